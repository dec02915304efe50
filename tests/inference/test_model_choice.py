"""Which model (lib/inference/model_choice.py): one rule, and the shipped demo model gives the
README's figures."""
import os

import pytest

from helpers import DEMO_MODEL, REPO


# --- which model: one rule ---------------------------------------------------------------

def test_model_choice_rule(tmp_path):
    """Named > the authors' released model > the shipped demo model; a model the user trained
    (the quick start's) is never picked up unless named; the line says which model and why."""
    from lib.utils.errors import UserError
    from lib.inference.model_choice import CANDIDATES, choose_model
    with pytest.raises(UserError, match='no model.*--pretrain'):
        choose_model(root=str(tmp_path))
    trained = tmp_path / 'output' / 'quickstart' / 'model_best.pth.tar'    # what the quick start writes
    trained.parent.mkdir(parents=True)
    trained.write_bytes(b'x')
    with pytest.raises(UserError, match='no model'):
        choose_model(root=str(tmp_path))
    assert [c for c, _, _ in CANDIDATES] == ['models/tmc_klbone.pth.tar', 'scripts/demo_model/demo.pth.tar']
    lines = []
    for ckpt, cfg, what in reversed(CANDIDATES):         # each newly present file takes over
        (tmp_path / ckpt).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / ckpt).write_bytes(b'x')
        got = choose_model(root=str(tmp_path), log=lines.append)
        assert got[0] == str(tmp_path / ckpt) and got[2].startswith(what)
        assert got[1] == (str(tmp_path / cfg) if cfg else None)
        assert lines[-1].startswith('model: %s, %s (no --pretrain given' % (ckpt, what))
        assert 'used only with --pretrain' in lines[-1]
    assert 'models/tmc_klbone.pth.tar not found' in lines[0] and 'not found' not in lines[1]
    assert 'config: cfg/h36m_gt_scale.yaml' in lines[1] and 'config: the one stored in the checkpoint' in lines[0]
    # named wins over both, with or without its config file
    (tmp_path / 'a.yaml').write_text('')
    got = choose_model(str(trained), str(tmp_path / 'a.yaml'), root=str(tmp_path), log=lines.append)
    assert got[:2] == (str(trained), str(tmp_path / 'a.yaml')) and 'named with --pretrain' in lines[-1]
    assert choose_model(str(trained), None, root=str(tmp_path))[:2] == (str(trained), None)
    with pytest.raises(UserError, match='config file not found'):
        choose_model(str(trained), str(tmp_path / 'none.yaml'), root=str(tmp_path))


def test_shipped_model_runs_with_its_stored_config_and_no_note():
    """The shipped model's config is the one stored in it: loading prints no 'note:' line."""
    from lib.inference.model_choice import model_config
    from lib.eval.load_model import load_pose_model
    cfg = model_config(DEMO_MODEL, None)
    notes = []
    model = load_pose_model(cfg, DEMO_MODEL, log=notes.append)
    assert notes == [] and model.scale_on_3d and cfg.DATA.DATASET_NAME == 'demo'


def test_checkpoint_without_stored_config_needs_cfg(tiny_checkpoint):
    from lib.eval.load_model import checkpoint_config
    from lib.utils.errors import UserError
    with pytest.raises(UserError, match='stores no config.*--cfg'):
        checkpoint_config(tiny_checkpoint[1])


def readme_demo_figures():
    """(MPJPE, P-MPJPE, poses) the README states for the shipped demo model."""
    import re
    text = open(os.path.join(REPO, 'README.md')).read()
    pattern = r'shipped demo model.{0,1500}?test split \(([\d,]+) poses\) it gives MPJPE ([\d.]+) mm, P-MPJPE ([\d.]+) mm'
    m = re.search(pattern.replace(' ', r'\s+'), text, re.S)
    assert m, 'README states no figures for the shipped demo model'
    return float(m.group(2)), float(m.group(3)), int(m.group(1).replace(',', ''))


def test_shipped_demo_model_is_small_and_gives_the_readme_figures():
    import torch
    from lib.config.defaults import get_default
    from lib.config.load import update_config
    from lib.eval.evaluate import evaluate
    from lib.eval.load_model import load_pose_model
    from lib.data.batches import TensorSplit
    from lib.data.dataset import load_splits
    from lib.utils.runtime import cfg_path
    assert os.path.getsize(DEMO_MODEL) < 5e6
    ck = torch.load(DEMO_MODEL, weights_only=True)
    assert set(ck) <= {'pose_model_state_dict', 'scaler_bypassed', 'epoch', 'p1_mpjpe', 'p2_mpjpe', 'config'}
    assert 'DATA_DIR' not in ck['config'] and 'OUTPUT_DIR' not in ck['config']
    cfg = update_config(get_default(), os.path.join(REPO, 'cfg', 'quickstart.yaml'))
    model = load_pose_model(cfg, DEMO_MODEL, log=lambda m: None)
    split = load_splits(cfg, cfg_path(cfg.DATA_DIR), which=('test',))['test']
    res = evaluate(model, TensorSplit.from_split(split, cfg, torch.device('cpu'), train=False), split, cfg,
                   write=False)
    mpjpe, p_mpjpe, n = readme_demo_figures()
    assert res['num_poses'] == n
    assert res['MPJPE'] == pytest.approx(mpjpe, abs=0.006) and res['P-MPJPE'] == pytest.approx(p_mpjpe, abs=0.006)
    # the recommended recipe (tools/make_demo_model.sh): its scaler, trained on the frozen lifter,
    # scales the lifted 3D, and the loader takes that from the checkpoint's config
    t = ck['config']['TRAIN']
    assert t['FREEZE_LIFTER'] and t['SCALE_ON_3D'] and t['USE_SCALER'] and model.scale_on_3d
    assert not ck['scaler_bypassed'] and 'scale_mean' in res
