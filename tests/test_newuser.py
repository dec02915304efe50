"""What a new user trips over (issue 16): checkpoints of the adv warm start, where evaluations
are written, which model the demo uses, threads, start-up without torch, figures."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO

ENV = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')


def run(script, *args, cwd=REPO, env=ENV):
    return subprocess.run([sys.executable, os.path.join(REPO, script)] + [str(a) for a in args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)


def epoch_line(stdout, epoch):
    """(MPJPE, P-MPJPE) of 'epoch N/M [...]' in a training printout."""
    for line in stdout.splitlines():
        if line.startswith('epoch %d/' % epoch):
            w = line.split()
            return float(w[w.index('MPJPE') + 1]), float(w[w.index('P-MPJPE') + 1])
    raise AssertionError('no epoch %d line in %s' % (epoch, stdout[-2000:]))


def all_frames(stdout):
    line = [l for l in stdout.splitlines() if l.startswith('all frames')][-1]
    return float(line.split()[2]), float(line.split()[3])


@pytest.fixture(scope='module')
def warm_run(tmp_path_factory):
    """A 2-epoch run of a tiny config with a scaler and one adv warm-start epoch (scaler
    bypassed), keeping the epoch-1 checkpoint aside; returns (cfg, tmp, stdout, ck1, ck2)."""
    import synth
    tmp = tmp_path_factory.mktemp('warm')
    synth.write_npz(str(tmp / 'data'))
    cfg = tmp / 'tiny.yaml'
    cfg.write_text(synth.TINY_YAML.format(data=tmp / 'data', out=tmp / 'out', log=tmp / 'log').replace(
        'NUM_EPOCHS: 1', 'NUM_EPOCHS: 1\n  USE_SCALER: true\n  WARM_START_EPOCHS: 1') + 'EVAL:\n  STRIDE: 3\n')
    r = run('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--opts', 'DATA.FORMAT', 'npz')
    assert r.returncode == 0, r.stderr
    out = tmp / 'out' / 'tiny'
    ck1 = tmp / 'epoch1.pth.tar'
    os.replace(out / 'checkpoint.pth.tar', ck1)
    r2 = run('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--resume', ck1,
             '--opts', 'DATA.FORMAT', 'npz', 'TRAIN.NUM_EPOCHS', '2')
    assert r2.returncode == 0, r2.stderr
    return cfg, tmp, r.stdout + r2.stdout, ck1, out / 'checkpoint.pth.tar'


def test_warm_start_checkpoint_evaluates_as_training_printed(warm_run):
    """Both checkpoints evaluate to what training printed for them; the evaluations go into
    their own folders and leave the training's outputs as they were."""
    import torch
    cfg, tmp, stdout, ck1, ck2 = warm_run
    out = ck2.parent
    assert torch.load(ck1, weights_only=True)['scaler_bypassed'] is True
    assert torch.load(ck2, weights_only=True)['scaler_bypassed'] is False
    before = {f: (out / f).read_bytes() for f in ('results.json', 'predictions.npz', 'model_best.pth.tar')}
    for epoch, ck in ((1, ck1), (2, ck2)):
        r = run('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--eval', '--pretrain', ck,
                '--opts', 'DATA.FORMAT', 'npz')
        assert r.returncode == 0, r.stderr
        assert all_frames(r.stdout) == pytest.approx(epoch_line(stdout, epoch), abs=0.011)
        assert ('adv warm start' in r.stdout) == (epoch == 1)
    assert {f: (out / f).read_bytes() for f in before} == before and 'history' in json.loads(before['results.json'])
    ev = out / 'eval_checkpoint'
    assert (ev / 'results.json').exists() and (ev / 'predictions.npz').exists() and str(ev) in r.stdout
    assert json.load(open(ev / 'results.json'))['MPJPE'] == pytest.approx(epoch_line(stdout, 2)[0], abs=0.006)
    # an explicit --opts wins over the checkpoint, with a note
    r = run('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--eval', '--pretrain', ck1,
            '--opts', 'DATA.FORMAT', 'npz', 'TRAIN.USE_SCALER', 'true')
    assert r.returncode == 0 and 'note: --opts TRAIN.USE_SCALER true' in r.stdout
    assert all_frames(r.stdout) != pytest.approx(epoch_line(stdout, 1), abs=0.011)
    r = run('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--eval', '--pretrain', ck2,
            '--opts', 'DATA.FORMAT', 'npz', 'TRAIN.USE_SCALER', 'false')
    assert r.returncode == 0 and 'note: --opts TRAIN.USE_SCALER false' in r.stdout


def test_inference_of_a_warm_start_checkpoint_bypasses_its_scaler(warm_run):
    """scripts/inference.py and tools/eval_lsp.py load through lib.core.load_model: the warm-start
    checkpoint lifts as training's evaluation did (s = 1), the later one with its scaler."""
    import torch
    from lib.core.config import get_default, update_config
    from lib.core.lifting import lift_in_batches
    from lib.core.load_model import load_pose_model
    cfg, tmp, stdout, ck1, ck2 = warm_run
    x = np.random.RandomState(0).normal(0, 0.05, (5, 17, 2)).astype(np.float32)
    m1 = load_pose_model(update_config(get_default(), str(cfg)), str(ck1), log=lambda m: None)
    assert m1.scaler is None and lift_in_batches(m1, x)[1] is None
    full = torch.load(ck1, weights_only=True)['pose_model_state_dict']
    c = update_config(get_default(), str(cfg))
    c.TRAIN.USE_SCALER = True
    from lib.models.pose_model import get_pose_model
    ref = get_pose_model(c)
    ref.load_state_dict(full)
    want, _ = lift_in_batches(ref, torch.as_tensor(x), use_scaler=False)
    assert np.allclose(lift_in_batches(m1, x)[0], want, atol=1e-5)
    m2 = load_pose_model(update_config(get_default(), str(cfg)), str(ck2), log=lambda m: None)
    assert m2.scaler is not None and lift_in_batches(m2, x)[1] is not None
    # the real script, on a pose file
    d = tmp / 'in'
    d.mkdir()
    np.save(d / 'p.npy', np.random.RandomState(1).uniform(100, 900, (17, 2)).astype(np.float32))
    r = run('scripts/inference.py', '--indir', d, '--outdir', tmp / 'o', '--cfg', cfg, '--pretrain', ck1,
            '--quiet')
    assert r.returncode == 0, r.stderr
    assert 'adv warm start' in r.stderr
    assert json.load(open(tmp / 'o' / 'p_3d.json'))['scale'] is None


def test_failed_run_logs_its_error_and_a_second_run_warns(warm_run):
    cfg, tmp, stdout, ck1, ck2 = warm_run
    out = ck2.parent
    logs = set(os.listdir(out))
    r = run('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--threads', '3', '--opts', 'DATA.DATASET_NAME', 'none')
    assert r.returncode == 2 and 'threads: 3 (--threads)' in r.stdout
    # missing data: one line naming where each layout comes from
    assert len(r.stderr.strip().splitlines()) == 1
    assert 'sites.google.com/view/ambiguity-aware-hpe' in r.stderr and 'prepare_data_h36m.py' in r.stderr
    new = [f for f in set(os.listdir(out)) - logs if f.endswith('.log')]
    assert len(new) == 1 and (out / new[0]).read_text().strip().endswith(r.stderr.strip())
    r = run('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--opts', 'TRAIN.NUM_EPOCS', '1')
    assert r.returncode == 2
    assert not [f for f in os.listdir(out) if f.endswith('.log') and not (out / f).read_text().strip()]
    env = {k: v for k, v in ENV.items() if k not in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS')}
    r = run('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--opts', 'DATA.FORMAT', 'npz',
            'TRAIN.NUM_EPOCHS', '0', env=env)              # a run over the finished one
    assert r.returncode == 0 and 'holds an earlier run' in r.stdout
    assert 'threads: 1 (default' in r.stdout


# --- figures: a fixed cube in metres, a camera view that shows the 2D input ----------

def demo_pixels():
    """The 2D poses (ours order, pixels) of the demo inputs: one per file (a sequence's middle)."""
    from lib.data.demo_io import list_inputs, read_input
    paths, _ = list_inputs(os.path.join(REPO, 'scripts', 'demo_input'))
    out = []
    for p in paths:
        inp = read_input(p)
        out.append((os.path.basename(p), inp.px_ours[len(inp.px_ours) // 2]))
    assert len(out) >= 4
    return out


def camera_panel_points(fig, pose):
    """Screen coordinates of the joints as the figure's camera-view panel projects them."""
    from mpl_toolkits.mplot3d import proj3d
    from lib.vis.plot import to_metres, to_plot_frame
    ax = [a for a in fig.axes if a.name == '3d' and 'camera view' in a.get_title()][0]
    P = to_plot_frame(to_metres(pose))
    x, y, _ = proj3d.proj_transform(P[:, 0], P[:, 1], P[:, 2], ax.get_proj())
    return np.stack([x, y], -1)


def similarity_residual(a, b):
    """Relative residual of b ~ s * a + t (s > 0: no mirror, no rotation), over the spread of b."""
    a0, b0 = a - a.mean(0), b - b.mean(0)
    s = (a0 * b0).sum() / (a0 ** 2).sum()
    assert s > 0
    return float(np.abs(s * a0 - b0).max() / np.abs(b0).max())


def back_projected(px, depth, c=10.0):
    """A 3D pose built as the network builds it: normalised 2D x, depth offsets d, z = d + c."""
    from lib.data.dataset import normalise_2d
    x, _ = normalise_2d(px[None].astype(np.float64), True)
    z = c + depth
    Y = np.concatenate([x[0] * z[:, None], z[:, None]], -1)
    return Y


@pytest.mark.parametrize('depth_spread', [0.3, 3.0])
def test_camera_view_shows_the_2d_input(depth_spread):
    """On the demo inputs, lifted with shallow and with very deep (poor) depths, the camera-view
    panel projects the 3D onto the 2D input (up to scale and shift; y flipped to 'up')."""
    from lib.data import skeleton as sk
    from lib.vis.plot import figure_2d_3d
    rng = np.random.RandomState(0)
    for name, px in demo_pixels():
        d = rng.uniform(-depth_spread, depth_spread, 17)
        d[sk.ROOT] = 0.0                  # the root at the camera distance, as the cycle places it
        pose = back_projected(px, d)
        fig = figure_2d_3d(px, pose)
        shown = camera_panel_points(fig, pose)
        want = px * np.array([1.0, -1.0])            # pixels: y down; the panel: up is up
        assert similarity_residual(shown, want) < 1e-3, name


def test_3d_cube_is_metres_and_fixed():
    """The cube is +-1 m whatever the lift; a lift reaching past it says how far in the title."""
    from lib.vis.plot import CUBE_M, figure_2d_3d
    name, px = demo_pixels()[0]
    small = back_projected(px, np.zeros(17))
    huge = small * 12.0
    for pose in (small, huge):
        fig = figure_2d_3d(px, pose)
        for ax in [a for a in fig.axes if a.name == '3d']:
            assert ax.get_xlim() == (-CUBE_M, CUBE_M) and ax.get_zlim() == (-CUBE_M, CUBE_M)
            assert ('reaches' in ax.get_title()) == (pose is huge)


# --- which model: one rule ---------------------------------------------------------------

def test_model_choice_rule(tmp_path):
    from lib.utils.errors import UserError
    from lib.utils.model_choice import CANDIDATES, choose_model
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


def test_demo_script_trains_nothing_and_names_its_model():
    text = open(os.path.join(REPO, 'scripts', 'demo.sh')).read()
    assert 'main.py' not in text and '--pretrain' not in text


# --- start-up: arguments and config are checked before torch loads ------------------------

PROBE = '''
import os, runpy, sys
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(sys.argv[0]))       # as `python script.py` does
try:
    runpy.run_path(sys.argv[0], run_name='__main__')
except SystemExit as e:
    code = e.code
print('TORCH_LOADED=%s EXIT=%s' % ('torch' in sys.modules, code))
'''


def probe(script, *args):
    r = subprocess.run([sys.executable, '-c', PROBE, os.path.join(REPO, script)] + [str(a) for a in args],
                       cwd=REPO, capture_output=True, text=True, timeout=120, env=ENV)
    return r.stdout.strip().splitlines()[-1], r.stderr


@pytest.mark.parametrize('script', ['tools/main.py', 'tools/eval_lsp.py', 'scripts/inference.py',
                                    'tools/prepare_data.py'])
def test_help_does_not_import_torch(script):
    last, _ = probe(script, '--help')
    assert last == 'TORCH_LOADED=False EXIT=0'


def test_bad_config_fails_before_torch_with_a_suggestion(tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('TRAIN:\n  NUM_EPOCS: 3\n')
    indir = tmp_path / 'in'
    indir.mkdir()
    np.save(indir / 'p.npy', np.zeros((17, 2), np.float32))
    for script, args in (('tools/main.py', ['--cfg', bad, '--gpu', '-1']),
                         ('tools/eval_lsp.py', ['--cfg', bad, '--pretrain', tmp_path / 'x.pth.tar',
                                                '--out', tmp_path / 'lsp']),
                         ('scripts/inference.py', ['--cfg', bad, '--pretrain', tmp_path / 'x.pth.tar',
                                                   '--indir', indir, '--outdir', tmp_path / 'o'])):
        last, err = probe(script, *args)
        assert last == 'TORCH_LOADED=False EXIT=2', (script, err)
        assert 'unknown config key TRAIN.NUM_EPOCS' in err and 'did you mean TRAIN.NUM_EPOCHS?' in err
    last, err = probe('tools/prepare_data.py', 'bvh', '--src', tmp_path / 'none', '--out', tmp_path / 'o',
                      '--name', 'x')
    assert last == 'TORCH_LOADED=False EXIT=2' and 'source folder not found' in err


def test_threads_precedence_and_bad_values(monkeypatch):
    from lib.utils.errors import UserError
    from lib.utils.runtime import resolve_threads
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    assert resolve_threads(None, 0)[0] == 1
    monkeypatch.setenv('OMP_NUM_THREADS', '2')
    assert resolve_threads(None, 0) == (2, '$OMP_NUM_THREADS')
    assert resolve_threads(None, 4) == (4, 'THREADS in the config')
    assert resolve_threads(3, 4) == (3, '--threads')
    with pytest.raises(UserError, match='positive integer'):
        resolve_threads(0, 0)


# --- prepare_data: a dataset without a test split is refused ------------------------------

def test_prepare_bvh_refuses_a_dataset_without_test_split(tmp_path):
    (tmp_path / 'src' / 'only').mkdir(parents=True)
    (tmp_path / 'src' / 'only' / 'a.bvh').write_text('HIERARCHY\n')
    r = run('tools/prepare_data.py', 'bvh', '--src', tmp_path / 'src', '--out', tmp_path / 'out', '--name', 'x')
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert 'no test subject' in r.stderr and '--test-subjects only' in r.stderr and 'second one' in r.stderr
    assert not (tmp_path / 'out').exists() or not os.listdir(tmp_path / 'out')


def test_archive_without_test_subjects_names_the_key_and_the_subjects(tmp_path):
    import synth
    from lib.data.dataset import read_npz_archives
    from lib.utils.errors import UserError
    synth.write_npz(str(tmp_path), frames=40)
    p3 = tmp_path / 'data_3d_synth.npz'
    pos = np.load(p3, allow_pickle=True)['positions_3d'].item()
    pos = {s: pos[s] for s in ('S1', 'S5')}             # a mocap set: no S9 / S11
    np.savez(p3, positions_3d=pos, metadata={'train_subjects': ['S1'], 'test_subjects': []})
    with pytest.raises(UserError) as e:
        read_npz_archives(str(p3), str(tmp_path / 'data_2d_synth_gt.npz'))
    msg = e.value.line()
    assert 'names no test subjects' in msg and 'set DATA.TEST_SUBJECTS to some of S1, S5' in msg


# --- the shipped demo model -----------------------------------------------------------------

DEMO_MODEL = os.path.join(REPO, 'scripts', 'demo_model', 'quickstart.pth.tar')


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
    from lib.core.config import get_default, update_config
    from lib.core.evaluate import evaluate
    from lib.core.load_model import load_pose_model
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
    assert ck['p1_mpjpe'] == pytest.approx(res['MPJPE'], abs=0.01)        # what training printed for it


def test_eval_lsp_without_pretrain_uses_the_rule(tmp_path):
    """No --pretrain: eval_lsp names the model the rule chose and lifts with it."""
    from test_lsp_demo import STANDING, _write_lsp
    _write_lsp(str(tmp_path / 'lsp'), np.stack([STANDING] * 2), np.ones((2, 14)), 'lspet')
    r = run('tools/eval_lsp.py', '--lsp-root', tmp_path / 'lsp', '--out', tmp_path / 'out', '--quiet')
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('model: ') and 'lifted 2' in r.stdout


def test_camera_view_of_the_shipped_models_lifts_shows_the_2d_input():
    from lib.core.config import get_default, update_config
    from lib.core.lifting import lift_in_batches
    from lib.data.demo_io import normalise_pixels
    from lib.core.load_model import load_pose_model
    from lib.vis.plot import figure_2d_3d
    cfg = update_config(get_default(), os.path.join(REPO, 'cfg', 'quickstart.yaml'))
    model = load_pose_model(cfg, DEMO_MODEL, log=lambda m: None)
    for name, px in demo_pixels():
        x, _ = normalise_pixels(px[None], cfg)
        pose = lift_in_batches(model, x)[0][0].astype(np.float32)
        fig = figure_2d_3d(px, pose, camera_distance=cfg.TRAIN.CAMERA_SKELETON_DISTANCE)
        assert similarity_residual(camera_panel_points(fig, pose), px * np.array([1.0, -1.0])) < 1e-3, name
