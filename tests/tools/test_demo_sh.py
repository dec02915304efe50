"""scripts/demo.sh: it trains nothing, and earlier results are replaced only by a run that
succeeded."""
import os
import shutil
import subprocess
import sys

import pytest

from helpers import DEMO, ENV, REPO


def test_demo_script_trains_nothing_and_names_its_model():
    code = [ln for ln in open(os.path.join(REPO, 'scripts', 'demo.sh')) if not ln.lstrip().startswith('#')]
    assert not [ln for ln in code if 'main.py' in ln or '--pretrain' in ln]    # no model of its own


# --- scripts/demo.sh: earlier results are replaced only by a run that succeeded ---------------

def demo_copy(tmp, bad_image):
    """A copy of scripts/ (three demo inputs, one of them with a corrupt picture) beside links to lib/ and cfg/."""
    root = tmp / 'repo'
    (root / 'scripts' / 'demo_input').mkdir(parents=True)
    for name in ('lib', 'cfg', 'datasets'):
        os.symlink(os.path.join(REPO, name), str(root / name))
    for f in ('demo.sh', 'inference.py', '_init_paths.py'):
        shutil.copy(os.path.join(REPO, 'scripts', f), str(root / 'scripts' / f))
    shutil.copytree(os.path.join(REPO, 'scripts', 'demo_model'), str(root / 'scripts' / 'demo_model'))
    for n in ('1', '2', '3'):
        for ext in ('.pkl', '.jpg'):
            shutil.copy(os.path.join(DEMO, n + ext), str(root / 'scripts' / 'demo_input' / (n + ext)))
    if bad_image:
        (root / 'scripts' / 'demo_input' / '2.jpg').write_bytes(b'\xff\xd8 not a whole jpeg')
    (root / 'scripts' / 'demo_output').mkdir()
    (root / 'scripts' / 'demo_output' / 'earlier.txt').write_text('results of an earlier demo')
    return root / 'scripts'


@pytest.mark.parametrize('bad_image', [True, False])
def test_demo_sh_keeps_earlier_results_until_a_run_succeeds(tmp_path, bad_image):
    scripts = demo_copy(tmp_path, bad_image)
    r = subprocess.run(['sh', str(scripts / 'demo.sh')], capture_output=True, text=True, timeout=300,
                       env=dict(ENV, PYTHON=sys.executable))
    assert 'Traceback' not in r.stderr, r.stderr
    if bad_image:
        assert r.returncode == 2
        assert [ln for ln in r.stderr.splitlines() if ln.startswith('error:')][0].count('2.jpg') == 1
        assert os.listdir(scripts / 'demo_output') == ['earlier.txt']         # untouched
        new = sorted(os.listdir(scripts / 'demo_output.new'))
        assert '1_3d.json' in new and '3_3d.json' in new and 'lifted 2' in r.stdout   # the good ones ran
    else:
        assert r.returncode == 0, r.stderr
        assert not (scripts / 'demo_output.new').exists()
        got = sorted(os.listdir(scripts / 'demo_output'))
        assert 'earlier.txt' not in got and '1_out.jpg' in got and '2_out.jpg' in got and '3_3d.json' in got


def test_demo_sh_passes_its_arguments_on(tmp_path, tiny_checkpoint):
    """`sh demo.sh --pretrain CKPT --cfg CFG`: the model named is used (and said so), and an
    argument the script does not know reaches inference.py (which refuses it)."""
    scripts = demo_copy(tmp_path, bad_image=False)
    cfg, ckpt = tiny_checkpoint
    env = dict(ENV, PYTHON=sys.executable)
    r = subprocess.run(['sh', str(scripts / 'demo.sh'), '--pretrain', ckpt, '--cfg', cfg, '--gif-frames', '3'],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert 'model: %s, named with --pretrain' % ckpt in r.stdout, r.stdout
    assert 'note:' not in r.stdout + r.stderr
    r = subprocess.run(['sh', str(scripts / 'demo.sh'), '--no-such-option'], capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode == 2 and '--no-such-option' in r.stderr


def test_default_demo_uses_the_shipped_model_without_a_note(tmp_path):
    """A default run names the shipped model and its stored config, and prints no 'note:' line,
    even with a quick-start model present (a trained model is used only when named)."""
    scripts = demo_copy(tmp_path, bad_image=False)
    trained = scripts.parent / 'output' / 'quickstart' / 'model_best.pth.tar'
    trained.parent.mkdir(parents=True)
    shutil.copy(os.path.join(REPO, 'scripts', 'demo_model', 'demo.pth.tar'), str(trained))
    r = subprocess.run(['sh', str(scripts / 'demo.sh')], capture_output=True, text=True, timeout=300,
                       env=dict(ENV, PYTHON=sys.executable))
    assert r.returncode == 0, r.stderr
    assert ('model: scripts/demo_model/demo.pth.tar, the small demo model shipped with the repository'
            in r.stdout), r.stdout
    assert 'config: the one stored in the checkpoint' in r.stdout
    assert 'note:' not in r.stdout + r.stderr and 'quickstart' not in r.stdout
