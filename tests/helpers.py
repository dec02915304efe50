"""Helpers shared by several test files: running the entry points, the one-line error
contract, tiny configs and data, and the authors' joint-order facts.

Fixtures shared by several files live in ``conftest.py``; synthetic data in ``synth.py``
(Human3.6M-like) and ``layout_fixtures.py`` (MPI-INF-3DHP and SURREAL h5 layouts).
"""
import importlib.util
import os
import re
import subprocess
import sys

import h5py
import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

import layout_fixtures as lf
import synth
from lib.config.defaults import get_default
from lib.config.load import apply_opts
from lib.data import skeleton as sk
from lib.data.batches import TensorSplit
from lib.inference.lsp import lsp14_to_ours17
from lib.utils.safe_io import safe_pickle_load

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)
SHARED = os.path.normpath(os.path.join(REPO, '..', 'shared'))
MAIN = os.path.join(REPO, 'tools', 'main.py')
SHARED_DATA = os.path.normpath(os.path.join(REPO, '..', 'shared', 'data'))
HAVE_BVH = os.path.isdir(lf.BVH_DIR)
# one thread: the same arithmetic in every run, and room on a shared 2-core machine
ENV = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONHASHSEED='0')
NPZ = ['DATA.FORMAT', 'npz']
ERROR_LINE = re.compile(r'^error: .+ \(.+\): .+$')
DEMO = os.path.join(REPO, 'scripts', 'demo_input')
DEMO_MODEL = os.path.join(REPO, 'scripts', 'demo_model', 'demo.pth.tar')
LSP_SAMPLE = os.path.join(REPO, '..', 'shared', 'data', 'lsp_sample')

# optional packages: the detector and OpenCV (requirements-media.txt), bvhio (requirements-dev.txt)
HAVE_DETECTOR = all(importlib.util.find_spec(m) is not None for m in ('mediapipe', 'cv2'))
HAVE_OPENCV = importlib.util.find_spec('cv2') is not None
needs_detector = pytest.mark.skipif(not HAVE_DETECTOR, reason='needs the 2D detector (mediapipe) and OpenCV: '
                                    'pip install -r requirements-media.txt')
needs_opencv = pytest.mark.skipif(not HAVE_OPENCV, reason='needs OpenCV: pip install -r requirements-media.txt')
needs_bvhio = pytest.mark.skipif(importlib.util.find_spec('bvhio') is None,
                                 reason='needs bvhio: pip install -r requirements-dev.txt')

# Runs a script with some top-level modules made unimportable (as if not installed):
# python -c BLOCKED 'mod1,mod2' script.py args...
BLOCKED = '''
import os, runpy, sys
for m in sys.argv[1].split(','):
    sys.modules[m] = None                 # `import m` now raises ImportError, find_spec gives None
sys.argv = sys.argv[2:]
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
runpy.run_path(sys.argv[0], run_name='__main__')
'''


def run_without(modules, script, *args, cwd=REPO, env=ENV):
    """``script`` (a path under the repository) run with ``modules`` blocked; the CompletedProcess."""
    return subprocess.run([sys.executable, '-c', BLOCKED, ','.join(modules), os.path.join(REPO, script)]
                          + [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


# the authors' facts, restated
MPI2H36M = [10, 9, 8, 11, 12, 13, 4, 3, 2, 5, 6, 7, 1, 14, 15, 16, 0]
V3D_TO_OURS = [3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13, 8, 0, 7, 9, 10]


# --- running the entry points ----------------------------------------------------

def main_process(args, cwd=REPO):
    """tools/main.py in a subprocess (no environment of its own); returns the CompletedProcess."""
    return subprocess.run([sys.executable, os.path.join(REPO, 'tools', 'main.py')] + args, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def run_script(args, timeout=300, **kw):
    return subprocess.run([sys.executable] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=ENV, cwd=REPO, **kw)


def run_repo_script(script, *args, cwd=REPO, env=ENV):
    return subprocess.run([sys.executable, os.path.join(REPO, script)] + [str(a) for a in args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)


def run_inproc(argv, capsys, script='tools/main.py'):
    """``python <script> <argv>`` (default tools/main.py) run as a script in this process (faster
    than a subprocess, and lib can be monkeypatched): (exit code, stdout, stderr)."""
    import runpy
    path = os.path.join(REPO, script)
    capsys.readouterr()
    old_argv, old_path = sys.argv, list(sys.path)
    sys.argv = [path] + [str(a) for a in argv]
    sys.path.insert(0, os.path.dirname(path))          # as `python script.py` does
    try:
        with pytest.raises(SystemExit) as ex:
            runpy.run_path(path, run_name='__main__')
    finally:
        sys.argv, sys.path[:] = old_argv, old_path
    cap = capsys.readouterr()
    return ex.value.code, cap.out, cap.err


def need_script(path):
    """The full path of an entry script of the repository; a missing one fails the test."""
    full = os.path.join(REPO, path)
    assert os.path.isfile(full), '%s is missing' % path
    return full


# --- the one-line error contract ------------------------------------------------

def assert_one_error_line(rc, err, *needles):
    """Exit 2, one stderr line in the project's format naming what it must, no traceback."""
    assert rc == 2, err
    assert 'Traceback' not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith('error:')]
    assert len(errors) == 1, err
    assert ERROR_LINE.match(errors[0]), errors[0]
    for n in needles:
        assert str(n) in errors[0], (n, errors[0])
    return errors[0]


# --- configs and checkpoints ----------------------------------------------------

def write_cfg(tmp, data, name='tiny', text=None):
    p = tmp / (name + '.yaml')
    p.write_text(synth.TINY_YAML.format(data=data, out=tmp / 'out', log=tmp / 'log') if text is None else text)
    return p


def tiny_cfg_obj(path, **over):
    from lib.config.load import update_config
    cfg = update_config(get_default(), str(path))
    for k, v in over.items():
        sec, _, key = k.rpartition('.')
        (cfg[sec] if sec else cfg)[key] = v
    return cfg


def make_state_checkpoint(cfg_path, dst, **over):
    """A complete training checkpoint of a fresh TrainState (no training)."""
    from lib.train.state import TrainState
    from lib.models.checkpoint import save_checkpoint
    st = TrainState(tiny_cfg_obj(cfg_path, **over), torch.device('cpu'))
    save_checkpoint(st.checkpoint(), str(dst))
    return st


def cfg_for(name, **over):
    cfg = get_default()
    cfg.DATA.DATASET_NAME = name
    for k, v in over.items():
        sec, key = k.split('.')
        cfg[sec][key] = v
    return cfg


TINY = ['BATCH_SIZE', '16', 'NETWORK.NUM_CHANNELS', '16', 'NETWORK.LIFTER_RES_BLOCKS', '1',
        'NETWORK.DIS_RES_BLOCKS', '1', 'NETWORK.DIS_TEMP_RES_BLOCKS', '1']


def tiny_cfg(*opts):
    cfg = get_default()
    apply_opts(cfg, TINY + list(opts))
    return cfg


# --- data ---------------------------------------------------------------------------

def rand_rot(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def rigid_align_reference(p, g):
    """Per-frame similarity alignment of p to g, reflections excluded (Umeyama), one frame at a
    time: the plain reference the metrics are checked against."""
    out = np.empty_like(p)
    for i in range(len(p)):
        mp, mg = p[i].mean(0), g[i].mean(0)
        P, G = p[i] - mp, g[i] - mg
        U, S, Vt = np.linalg.svd(P.T @ G)
        D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
        R = U @ D @ Vt
        s = np.trace(np.diag(S) @ D) / (P ** 2).sum()
        out[i] = s * P @ R + mg
    return out


def tiny_split(n=64, seqs=4, seed=0):
    """A TensorSplit of ``n`` random but plausible normalised 2D poses in ``seqs`` sequences."""
    rng = np.random.RandomState(seed)
    x = torch.as_tensor(rng.normal(0, 0.05, (n, 17, 2)), dtype=torch.float32)
    x[:, 13] = 1e-5                                   # the root, as normalise_2d leaves it
    L = n // seqs
    i = torch.arange(n)
    rot = torch.as_tensor(rng.uniform(-0.5, 0.5, (n, 3)), dtype=torch.float32)
    return TensorSplit(x, torch.zeros(n, 17, 3), i // L * L, i % L, torch.full((n,), L), rot, 1.0)


def edit_h5(name, edit):
    """A builder: write the ``name`` layout fixture into tmp/data, then ``edit`` its test file."""
    def build(tmp):
        data = lf.write_dataset(str(tmp / 'data'), name)
        with h5py.File(os.path.join(data, '%s_valid_pred3.h5' % name), 'a') as f:
            edit(f)
        return name
    return build


def set_nan(f):
    a = np.array(f['joint_3d_gt'])
    a[3, 5] = np.nan
    f['joint_3d_gt'][...] = a


# A standing person, LSP order, pixels in a 160 x 200 image (x right, y down).
STANDING = np.array([
    [65, 180], [66, 140], [68, 100],      # R ankle, R knee, R hip
    [92, 100], [94, 140], [95, 180],      # L hip, L knee, L ankle
    [45, 105], [52, 80], [62, 55],        # R wrist, R elbow, R shoulder
    [98, 55], [108, 80], [115, 105],      # L shoulder, L elbow, L wrist
    [80, 45], [80, 15]], np.float64)      # neck, head top
W, H = 160, 200


def write_lsp(root, poses, flags, layout, sizes=None):
    """Write joints.mat in ``layout`` and matching images; poses (N, 14, 2), flags (N, 14)."""
    os.makedirs(os.path.join(root, 'images'), exist_ok=True)
    j = np.concatenate([poses, flags[..., None]], -1)            # (N, 14, 3)
    arr = np.transpose(j, (2, 1, 0)) if layout == 'lsp' else np.transpose(j, (1, 2, 0))
    scipy.io.savemat(os.path.join(root, 'joints.mat'), {'joints': arr})
    pattern = 'im%04d.jpg' if layout == 'lsp' else 'im%05d.jpg'
    for n in range(len(poses)):
        w, h = (sizes or {}).get(n, (W, H))
        img = Image.new('RGB', (w, h), (30 + 20 * n, 90, 160))
        img.save(os.path.join(root, 'images', pattern % (n + 1)))


def v3d_pose(shift=0.0):
    return sk.ours_to_v3d(lsp14_to_ours17(STANDING)) + shift


class Evil:
    """Unpickling this runs ``touch <marker>``: what a malicious pickle would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ('touch %s' % self.marker,))


# --- the authors' demo inputs (scripts/demo_input) ------------------------------------

def demo_image(n):
    with Image.open(os.path.join(DEMO, '%d.jpg' % n)) as im:
        return np.asarray(im.convert('RGB'))


def demo_2d_v3d(n):
    return sk.ours_to_v3d(np.asarray(safe_pickle_load(os.path.join(DEMO, '%d.pkl' % n))['original_joints_2d'],
                                     np.float64))


def coco_pose():
    """A COCO-17 pose made from the authors' 2D of image 0 (face points around the nose)."""
    v = demo_2d_v3d(0)
    face = np.array([[0, 0], [-3, -1], [3, -1], [-6, 0], [6, 0]], np.float64) + v[9]
    return np.concatenate([face, v[[11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3]]])


def run_python(args, cwd=REPO):
    return subprocess.run([sys.executable] + args, cwd=cwd, capture_output=True, text=True, timeout=120)


def not_blank(path, min_std=10.0):
    with Image.open(path) as im:
        a = np.asarray(im.convert('L'), np.float64)
    return a.std() > min_std


def reference_pck_auc(pred_m, gt_m):
    """The authors' definition, written out plainly: distances in mm over 300, thresholds
    k * 0.05 for k = 0..10, fraction strictly below, trapezoids over thresholds * 2."""
    d = np.sqrt(((pred_m - gt_m) ** 2).sum(-1)) * 1000.0 / 300.0
    ts = [k * 0.05 for k in range(11)]
    pcks = [float((d < t).sum()) / d.size for t in ts]
    area = sum((2 * ts[k + 1] - 2 * ts[k]) * (pcks[k] + pcks[k + 1]) / 2 for k in range(10))
    return area, pcks[10]
