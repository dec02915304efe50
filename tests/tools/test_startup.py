"""Start-up: arguments and config are checked before torch loads, and the main job runs
without the photo-and-video and test packages."""
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import ENV, REPO, run_without, write_lsp


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
    lsp = tmp_path / 'lsp_in'                # an LSP folder of its own: the test needs no ../shared
    write_lsp(str(lsp), np.full((1, 14, 2), 50.0), np.ones((1, 14)), 'lspet')
    for script, args in (('tools/main.py', ['--cfg', bad, '--gpu', '-1']),
                         ('tools/eval_lsp.py', ['--cfg', bad, '--pretrain', tmp_path / 'x.pth.tar',
                                                '--lsp-root', lsp, '--out', tmp_path / 'lsp']),
                         ('scripts/inference.py', ['--cfg', bad, '--pretrain', tmp_path / 'x.pth.tar',
                                                   '--indir', indir, '--outdir', tmp_path / 'o'])):
        last, err = probe(script, *args)
        assert last == 'TORCH_LOADED=False EXIT=2', (script, err)
        assert 'unknown config key TRAIN.NUM_EPOCS' in err and 'did you mean TRAIN.NUM_EPOCHS?' in err
    last, err = probe('tools/prepare_data.py', 'bvh', '--src', tmp_path / 'none', '--out', tmp_path / 'o',
                      '--name', 'x')
    assert last == 'TORCH_LOADED=False EXIT=2' and 'source folder not found' in err


def test_main_path_imports_without_the_media_and_test_packages():
    """Every lib module and every entry point's --help, with the packages of requirements-media.txt,
    requirements-flow.txt and requirements-dev.txt made unimportable: requirements.txt is enough for
    the main job."""
    blocked = ['mediapipe', 'cv2', 'jax', 'jaxlib', 'sounddevice', 'sentencepiece', 'bvhio', 'pytest', 'zuko']
    code = ('import importlib, os, sys\n'
            'for m in %r: sys.modules[m] = None\n'
            'sys.path.insert(0, %r)\n'
            'mods = [os.path.relpath(os.path.join(d, f), %r)[:-3].replace(os.sep, ".").replace(".__init__", "")\n'
            '        for d, _, fs in os.walk(os.path.join(%r, "lib")) for f in fs if f.endswith(".py")]\n'
            'for m in mods: importlib.import_module(m)\n'
            'print(len(mods))\n' % (blocked, REPO, REPO, REPO))
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0 and int(r.stdout) > 60, r.stderr[-2000:]
    for script in ('tools/main.py', 'tools/eval_lsp.py', 'tools/prepare_data.py', 'tools/vis_sequences.py',
                   'tools/export_model.py', 'scripts/inference.py'):
        r = run_without(blocked, script, '--help')
        assert r.returncode == 0 and 'usage' in r.stdout, (script, r.stderr[-1000:])
