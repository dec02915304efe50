"""tools/eval_lsp.py: generated and real LSP samples, bad output folders and images, the
model rule without --pretrain."""
import json
import os

import numpy as np
import pytest

from helpers import (LSP_SAMPLE, REPO, STANDING, assert_one_error_line, need_script, not_blank, run_python,
                     run_repo_script, run_script, write_lsp)
from lib.data import skeleton as sk
from lib.inference.lsp import LSP_NAMES


# --- eval_lsp -----------------------------------------------------------------------

def test_eval_lsp_from_tools_dir_with_generated_mat(tmp_path, tiny_checkpoint):
    """Run from inside tools/ with relative paths: one lifted, one skipped, one failed -> exit 2."""
    cfg, ckpt = tiny_checkpoint
    root = tmp_path / 'lsp'
    poses = np.stack([STANDING] * 3)
    flags = np.ones((3, 14))
    flags[1, 2] = 0                               # R hip missing -> skipped
    write_lsp(str(root), poses, flags, 'lspet')
    os.remove(root / 'images' / 'im00003.jpg')    # failed
    tools = os.path.join(REPO, 'tools')
    rel = lambda p: os.path.relpath(str(p), tools)  # noqa: E731
    r = run_python(['eval_lsp.py', '--cfg', rel(cfg), '--pretrain', rel(ckpt), '--lsp-root', rel(root),
             '--out', rel(tmp_path / 'out'), '--gpu', '-1'], cwd=tools)
    assert r.returncode == 2, r.stderr
    assert 'lifted 1, skipped 1, failed 1' in r.stdout, r.stdout
    assert 'Traceback' not in r.stderr
    out = tmp_path / 'out'
    assert not_blank(out / 'im00001.png')
    rec = json.loads((out / 'im00001.json').read_text())
    ours, v3d = np.array(rec['joints_3d_ours']), np.array(rec['joints_3d_v3d'])
    np.testing.assert_allclose(v3d, sk.ours_to_v3d(ours))
    assert rec['filled_joints_ours'] == [] and rec['lsp_annotation']['names'] == LSP_NAMES
    page = (out / 'index.html').read_text()
    assert 'im00001.png' in page and 'R hip' in page and 'im00003.jpg' in page
    assert (out / 'contact_sheet.png').is_file()


def test_eval_lsp_unwritable_out_is_one_line_error(tmp_path, tiny_checkpoint):
    cfg, ckpt = tiny_checkpoint
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    write_lsp(str(tmp_path / 'lsp'), np.stack([STANDING]), np.ones((1, 14)), 'lspet')   # no ../shared needed
    r = run_python(['tools/eval_lsp.py', '--cfg', cfg, '--pretrain', ckpt, '--lsp-root', str(tmp_path / 'lsp'),
                    '--out', str(blocker / 'sub')])
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and 'not writable' in lines[0], r.stderr


def test_eval_lsp_on_real_sample(tmp_path, tiny_checkpoint):
    if not os.path.isfile(os.path.join(LSP_SAMPLE, 'joints.mat')):
        pytest.skip('real LSP sample not available: %s is absent (needs <repo>/../shared)' % LSP_SAMPLE)
    cfg, ckpt = tiny_checkpoint
    out = tmp_path / 'lsp'
    r = run_python(['tools/eval_lsp.py', '--cfg', cfg, '--pretrain', ckpt, '--lsp-root', LSP_SAMPLE,
             '--out', str(out), '--limit', '8', '--gpu', '-1'])
    assert r.returncode == 0, r.stderr
    line = [ln for ln in r.stdout.splitlines() if ln.startswith('lifted')][0]
    lifted, skipped, failed = [int(w.strip(',')) for w in line.split()[1:6:2]]
    assert lifted + skipped == 8 and failed == 0 and lifted >= 4, line
    pngs = sorted(p for p in os.listdir(out) if p.startswith('im') and p.endswith('.png'))
    assert len(pngs) == lifted and all(not_blank(out / p) for p in pngs)
    # image 1 has its right ankle unannotated at (0, -26): filled and flagged, never lifted as is
    rec = json.loads((out / 'im00001.json').read_text())
    assert rec['filled_joints_ours'] == [0]
    assert np.array(rec['joints_2d_px_ours'])[0].min() > 0
    assert (out / 'index.html').is_file() and (out / 'contact_sheet.png').is_file()


def test_eval_lsp_unreadable_image(tmp_path, state_checkpoint):
    tool = need_script('tools/eval_lsp.py')
    root = tmp_path / 'lsp'
    write_lsp(str(root), np.stack([STANDING] * 3), np.ones((3, 14)), 'lspet')   # im00001.jpg ... im00003.jpg
    bad = root / 'images' / 'im00002.jpg'
    bad.write_bytes(bad.read_bytes()[:200])                        # an image cut short
    r = run_script([tool, '--cfg', tmp_path / 'tiny.yaml', '--pretrain', state_checkpoint, '--lsp-root', root,
                    '--out', tmp_path / 'lsp_out', '--limit', '3', '--sheet', '0', '--quiet', '--gpu', '-1'])
    assert_one_error_line(r.returncode, r.stderr, 'im00002.jpg')
    assert 'failed 1' in r.stdout
    assert not (tmp_path / 'lsp_out' / 'im00002.png').exists()


def test_eval_lsp_without_pretrain_uses_the_rule(tmp_path):
    """No --pretrain: eval_lsp names the model the rule chose and lifts with it."""
    write_lsp(str(tmp_path / 'lsp'), np.stack([STANDING] * 2), np.ones((2, 14)), 'lspet')
    r = run_repo_script('tools/eval_lsp.py', '--lsp-root', tmp_path / 'lsp', '--out', tmp_path / 'out', '--quiet')
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('model: ') and 'lifted 2' in r.stdout
