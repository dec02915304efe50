"""The bad-input catalogue of tools/eval_lsp.py (the contract is in bad_input_catalogue.py)."""
import numpy as np
import pytest

from helpers import STANDING, write_lsp
from .bad_input_catalogue import check_case, disk_full, entry


def lsp_root(tmp, poses=None, n=2):
    root = tmp / 'lsp'
    poses = np.repeat(STANDING[None], n, 0) if poses is None else poses
    write_lsp(str(root), poses, np.ones(poses.shape[:2]), 'lsp')
    return root



def lsp_args(make=None, *extra, model=True):
    def build(tmp, ctx):
        root = make(tmp) if make else lsp_root(tmp)
        return ['--lsp-root', root, '--out', tmp / 'lspout'] + (ctx['model'] if model else []) + \
            [e(tmp) if callable(e) else e for e in extra]
    return build


def _lsp_corrupt(tmp):
    root = lsp_root(tmp)
    raw = (root / 'joints.mat').read_bytes()
    (root / 'joints.mat').write_bytes(raw[:128] + b'\xff' * 64 + raw[192:])
    return root


def _lsp_garbage(tmp):
    root = lsp_root(tmp)
    (root / 'joints.mat').write_bytes(b'MATLAB 5.0 MAT-file' + b'\x00' * 200)
    return root


def _lsp_poses(scale=1.0, nan=False):
    def make(tmp):
        p = np.repeat(STANDING[None], 2, 0) * scale
        if nan:
            p[1, 3, 0] = np.nan
        return lsp_root(tmp, p)
    return make


def _lsp_out_is_root(tmp, ctx):
    root = lsp_root(tmp)
    return ['--lsp-root', root, '--out', root] + ctx['model']


def _lsp_out_not_empty(tmp, ctx):
    root = lsp_root(tmp)
    (tmp / 'lspout').mkdir()
    (tmp / 'lspout' / 'index.html').write_text('<p>earlier</p>')
    return ['--lsp-root', root, '--out', tmp / 'lspout'] + ctx['model']



CATALOGUE = {
    # tools/eval_lsp.py ---------------------------------------------------------------------
    'lsp/corrupt_joints_mat': entry('tools/eval_lsp.py', lsp_args(_lsp_corrupt), 'joints.mat', quiet=False),
    'lsp/garbage_joints_mat': entry('tools/eval_lsp.py', lsp_args(_lsp_garbage), 'MATLAB', quiet=False),
    'lsp/joints_nan': entry('tools/eval_lsp.py', lsp_args(_lsp_poses(nan=True)), 'NaN', quiet=False),
    'lsp/joints_x1e300': entry('tools/eval_lsp.py', lsp_args(_lsp_poses(1e300)), 'not pixel', quiet=False),
    'lsp/no_images': entry('tools/eval_lsp.py', lsp_args(lambda t: lsp_root(t, np.zeros((0, 14, 2)))), 'no images',
                           quiet=False),
    'lsp/out_is_root': entry('tools/eval_lsp.py', _lsp_out_is_root, 'input folder'),
    'lsp/out_not_empty': entry('tools/eval_lsp.py', _lsp_out_not_empty, 'not empty', '--force'),
    'lsp/missing_root': entry('tools/eval_lsp.py', lsp_args(lambda t: t / 'none'), 'joints.mat'),
    'lsp/batch_size_zero': entry('tools/eval_lsp.py', lsp_args(None, '--batch-size', '0'), '--batch-size'),
    'lsp/sheet_negative': entry('tools/eval_lsp.py', lsp_args(None, '--sheet', '-1'), '--sheet'),
    'lsp/missing_pretrain': entry('tools/eval_lsp.py', lsp_args(None, '--pretrain', '/nonexistent.pth.tar', '--cfg',
                                                                '/nonexistent.yaml', model=False), 'not found'),
    'lsp/disk_full': entry('tools/eval_lsp.py', disk_full(lsp_args(), 2), 'no space left', quiet=False),
}


@pytest.mark.parametrize('case', sorted(CATALOGUE))
def test_bad_input(case, ctx_base, tmp_path, capsys, monkeypatch):
    check_case(CATALOGUE[case], ctx_base, tmp_path, capsys, monkeypatch)
