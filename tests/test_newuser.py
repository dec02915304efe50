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


@pytest.fixture
def warm_run(tiny_data):
    """A 2-epoch run of a tiny config with a scaler and one adv warm-start epoch (scaler
    bypassed), keeping the epoch-1 checkpoint aside; returns (cfg, tmp, stdout, ck1, ck2)."""
    cfg, tmp = tiny_data
    cfg.write_text(cfg.read_text().replace('NUM_EPOCHS: 1', 'NUM_EPOCHS: 1\n  USE_SCALER: true\n'
                                           '  WARM_START_EPOCHS: 1') + 'EVAL:\n  STRIDE: 3\n')
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
    import torch
    cfg, tmp, stdout, ck1, ck2 = warm_run
    assert torch.load(ck1, weights_only=True)['scaler_bypassed'] is True
    assert torch.load(ck2, weights_only=True)['scaler_bypassed'] is False
    for epoch, ck in ((1, ck1), (2, ck2)):
        r = run('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--eval', '--pretrain', ck,
                '--opts', 'DATA.FORMAT', 'npz')
        assert r.returncode == 0, r.stderr
        assert all_frames(r.stdout) == pytest.approx(epoch_line(stdout, epoch), abs=0.011)
        assert ('adv warm start' in r.stdout) == (epoch == 1)
    # an explicit --opts wins over the checkpoint, with a note
    r = run('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--eval', '--pretrain', ck1,
            '--opts', 'DATA.FORMAT', 'npz', 'TRAIN.USE_SCALER', 'true')
    assert r.returncode == 0 and 'note: --opts TRAIN.USE_SCALER true' in r.stdout
    assert all_frames(r.stdout) != pytest.approx(epoch_line(stdout, 1), abs=0.011)
    r = run('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--eval', '--pretrain', ck2,
            '--opts', 'DATA.FORMAT', 'npz', 'TRAIN.USE_SCALER', 'false')
    assert r.returncode == 0 and 'note: --opts TRAIN.USE_SCALER false' in r.stdout


def test_inference_of_a_warm_start_checkpoint_bypasses_its_scaler(warm_run):
    """scripts/inference.py and tools/eval_lsp.py load through lib.core.inference: the warm-start
    checkpoint lifts as training's evaluation did (s = 1), the later one with its scaler."""
    import torch
    from lib.core.config import get_default, update_config
    from lib.core.inference import lift, load_pose_model
    cfg, tmp, stdout, ck1, ck2 = warm_run
    x = np.random.RandomState(0).normal(0, 0.05, (5, 17, 2)).astype(np.float32)
    m1 = load_pose_model(update_config(get_default(), str(cfg)), str(ck1), log=lambda m: None)
    assert m1.scaler is None and lift(m1, x)['scale'] is None
    full = torch.load(ck1, weights_only=True)['pose_model_state_dict']
    c = update_config(get_default(), str(cfg))
    c.TRAIN.USE_SCALER = True
    from lib.models.pose_model import get_pose_model
    ref = get_pose_model(c)
    ref.load_state_dict(full)
    from lib.core.evaluate import predict
    want, _ = predict(ref, torch.as_tensor(x), use_scaler=False)
    assert np.allclose(lift(m1, x)['pose_3d'], want, atol=1e-5)
    m2 = load_pose_model(update_config(get_default(), str(cfg)), str(ck2), log=lambda m: None)
    assert m2.scaler is not None and lift(m2, x)['scale'] is not None
    # the real script, on a pose file
    d = tmp / 'in'
    d.mkdir()
    np.save(d / 'p.npy', np.random.RandomState(1).uniform(100, 900, (17, 2)).astype(np.float32))
    r = run('scripts/inference.py', '--indir', d, '--outdir', tmp / 'o', '--cfg', cfg, '--pretrain', ck1,
            '--quiet')
    assert r.returncode == 0, r.stderr
    assert 'adv warm start' in r.stderr
    assert json.load(open(tmp / 'o' / 'p_3d.json'))['scale'] is None


def test_eval_keeps_the_training_outputs_and_leaves_no_empty_log(tiny_data, tmp_path):
    cfg, tmp = tiny_data
    r = run('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--opts', 'DATA.FORMAT', 'npz', 'EVAL.STRIDE', '5')
    assert r.returncode == 0, r.stderr
    out = tmp / 'out' / 'tiny'
    before = {f: (out / f).read_bytes() for f in ('results.json', 'predictions.npz', 'model_best.pth.tar')}
    r = run('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--eval', '--pretrain', out / 'model_best.pth.tar',
            '--opts', 'DATA.FORMAT', 'npz', 'EVAL.STRIDE', '5')
    assert r.returncode == 0, r.stderr
    assert {f: (out / f).read_bytes() for f in before} == before
    ev = out / 'eval_model_best'
    assert (ev / 'results.json').exists() and (ev / 'predictions.npz').exists()
    assert str(ev) in r.stdout
    # a run that fails leaves no empty log behind: its log ends with the error
    logs = set(os.listdir(out))
    r = run('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--opts', 'DATA.DATASET_NAME', 'nothing')
    assert r.returncode == 2
    new = [f for f in set(os.listdir(out)) - logs if f.endswith('.log')]
    assert len(new) == 1 and (out / new[0]).read_text().strip().endswith(r.stderr.strip())
    r = run('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--opts', 'TRAIN.NUM_EPOCS', '1')
    assert r.returncode == 2 and not [f for f in os.listdir(out) if f.endswith('.log') and
                                      not (out / f).read_text().strip()]
    # training again over a finished run says so
    r = run('tools/main.py', '--cfg', cfg, '--gpu', '-1', '--opts', 'DATA.FORMAT', 'npz', 'EVAL.STRIDE', '5',
            'TRAIN.NUM_EPOCHS', '0')
    assert 'holds an earlier run' in r.stdout
