"""Which model (lib/inference/model_choice.py): one rule, and the shipped demo model gives the
README's figures."""
import os

import pytest

from helpers import DEMO_MODEL, REPO


# --- which model: one rule ---------------------------------------------------------------

def test_model_choice_rule(tmp_path):
    from lib.utils.errors import UserError
    from lib.inference.model_choice import CANDIDATES, choose_model
    with pytest.raises(UserError, match='no trained model.*tools/main.py --cfg cfg/quickstart.yaml'):
        choose_model(root=str(tmp_path))
    lines = []
    for ckpt, cfg, what in reversed(CANDIDATES):         # each newly present file takes over
        (tmp_path / ckpt).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / ckpt).write_bytes(b'x')
        got = choose_model(root=str(tmp_path), log=lines.append)
        assert got[:2] == (str(tmp_path / ckpt), str(tmp_path / cfg)) and got[2].startswith(what)
        assert lines[-1].startswith('model: %s, %s' % (ckpt, what))
    assert choose_model('/x/a.pth.tar', '/x/a.yaml', root=str(tmp_path))[:2] == ('/x/a.pth.tar', '/x/a.yaml')
    with pytest.raises(UserError, match='--pretrain needs --cfg'):
        choose_model('/x/a.pth.tar', None, root=str(tmp_path))


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
