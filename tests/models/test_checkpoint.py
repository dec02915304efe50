"""Checkpoints (lib/models/checkpoint.py): atomic saves (through lib/utils/safe_io.py: a crash during
a save leaves the old checkpoint, and the written file has normal permissions), the one reader of a
pose checkpoint that evaluation and the warm start share, and the config an export keeps."""
import logging
import os

import pytest
import torch

from helpers import DEMO_MODEL
from lib.config.defaults import get_default
from lib.utils.errors import UserError

# one thread: bitwise-repeatable sums, and no thread contention on a busy machine
pytestmark = pytest.mark.usefixtures('one_thread')


# --- atomic checkpoints ---------------------------------------------------------------

def _two_states():
    a = {'pose_model_state_dict': {'w': torch.zeros(1000)}, 'epoch': 1}
    b = {'pose_model_state_dict': {'w': torch.ones(1000)}, 'epoch': 2}
    return a, b


def _assert_intact(path, folder):
    from lib.models.checkpoint import load_checkpoint
    ck = load_checkpoint(str(path))
    assert ck['epoch'] == 1 and float(ck['pose_model_state_dict']['w'].sum()) == 0
    assert os.listdir(str(folder)) == [os.path.basename(str(path))]     # no temporary files left


@pytest.mark.parametrize('crash_in', ['write', 'fsync', 'replace'])
def test_crash_during_save_leaves_the_old_checkpoint(crash_in, tmp_path, monkeypatch):
    from lib.utils import safe_io
    from lib.models.checkpoint import save_checkpoint
    path = tmp_path / 'run' / 'checkpoint.pth.tar'
    a, b = _two_states()
    save_checkpoint(a, str(path))
    if crash_in == 'write':                 # killed half-way through writing the bytes
        real_fdopen = os.fdopen

        class HalfFile:
            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def write(self, data):
                self.f.write(bytes(data)[:len(data) // 2])
                raise KeyboardInterrupt('killed')

            def __getattr__(self, k):
                return getattr(self.f, k)
        monkeypatch.setattr(safe_io.os, 'fdopen', lambda fd, mode: HalfFile(real_fdopen(fd, mode)))
        exc = KeyboardInterrupt
    elif crash_in == 'fsync':
        def boom(fd):
            raise OSError(5, 'Input/output error')
        monkeypatch.setattr(safe_io.os, 'fsync', boom)
        exc = OSError
    else:                                   # disk full / killed just before the rename
        def boom(src, dst):
            raise OSError(28, 'No space left on device')
        monkeypatch.setattr(safe_io.os, 'replace', boom)
        exc = OSError
    with pytest.raises(exc):
        save_checkpoint(b, str(path))
    monkeypatch.undo()
    _assert_intact(path, path.parent)


def test_atomic_write_makes_normal_permissions(tmp_path):
    from lib.utils.safe_io import atomic_write
    mask = os.umask(0o022)
    try:
        with atomic_write(str(tmp_path / 'f.json'), 'w') as f:
            f.write('{}')
    finally:
        os.umask(mask)
    assert (os.stat(tmp_path / 'f.json').st_mode & 0o777) == 0o644


# --- reading a pose checkpoint for a model -----------------------------------------------------

def test_evaluation_and_warm_start_read_a_checkpoint_alike(tiny_checkpoint):
    from lib.eval.load_model import load_pose_model
    from lib.models.checkpoint import read_pose_checkpoint
    from lib.train.run import read_warm_start
    yaml_path, ckpt = tiny_checkpoint
    ck, sd, arch = read_pose_checkpoint(ckpt)
    assert set(ck) == {'pose_model_state_dict'}
    assert arch == {'LIFTER_RES_BLOCKS': 1, 'USE_SCALER': True, 'NUM_CHANNELS': 32, 'BN_TRACK': True,
                    'SCALER_RES_BLOCKS': 1, 'SCALER_INPUT_SIZE': 37}
    notes = []
    model = load_pose_model(get_default(), ckpt, log=notes.append)
    assert list(model.state_dict()) == list(sd)
    assert all(torch.equal(v, sd[k]) for k, v in model.state_dict().items())
    cfg = get_default()
    cfg.TRAIN.LIFTER_PRETRAIN_PATH = ckpt
    log = logging.getLogger('test_checkpoint')
    wsd, warch = read_warm_start(cfg, log)
    assert warch == arch and list(wsd) == list(sd) and all(torch.equal(wsd[k], sd[k]) for k in sd)
    assert (cfg.NETWORK.NUM_CHANNELS, cfg.NETWORK.LIFTER_RES_BLOCKS, cfg.TRAIN.USE_SCALER) == (32, 1, False)


def test_evaluation_and_warm_start_refuse_a_bad_checkpoint_alike(tmp_path, tiny_checkpoint):
    from lib.eval.load_model import load_pose_model
    from lib.models.checkpoint import read_pose_checkpoint
    from lib.train.run import read_warm_start
    sd = torch.load(tiny_checkpoint[1], weights_only=True)['pose_model_state_dict']
    bad = dict(sd)
    bad['lifter_before.pre.0.bias'] = bad['lifter_before.pre.0.bias'].clone()
    bad['lifter_before.pre.0.bias'][3] = float('nan')
    cases = {'nan.pth.tar': {'pose_model_state_dict': bad},
             'nan_ema.pth.tar': {'pose_model_state_dict': sd, 'ema_state_dict': bad}}
    for name, content in cases.items():
        path = str(tmp_path / name)
        torch.save(content, path)
        with pytest.raises(UserError) as e:
            read_pose_checkpoint(path, use_ema=True)
        assert 'lifter_before.pre.0.bias holds NaN or inf' in str(e.value)
        with pytest.raises(UserError) as ev:
            load_pose_model(get_default(), path, log=lambda m: None, use_ema=True)
        assert str(ev.value) == str(e.value)
    read_pose_checkpoint(str(tmp_path / 'nan_ema.pth.tar'))            # without EMA: fine
    cfg = get_default()
    cfg.TRAIN.LIFTER_PRETRAIN_PATH = str(tmp_path / 'nan.pth.tar')
    with pytest.raises(UserError) as ew:
        read_warm_start(cfg, logging.getLogger('test_checkpoint'))
    assert str(ew.value) == str(e.value).replace('nan_ema', 'nan')


def test_exported_config_drops_the_machine_keys():
    from lib.models import checkpoint
    assert not hasattr(checkpoint, 'PATH_KEYS')
    ck = torch.load(DEMO_MODEL, weights_only=True)
    cfg = {'GPU': '0', 'OUTPUT_DIR': '/o', 'LOG_DIR': '/l', 'DATA_DIR': '/d', 'USE_GT': True,
           'DATA': {'TRAIN_PATH': '/t', 'VALID_PATH': '/v', 'DATASET_NAME': 'x'},
           'TRAIN': {'LIFTER_PRETRAIN_PATH': '/p', 'USE_SCALER': True}}
    small = checkpoint.inference_checkpoint(dict(ck, config=cfg), DEMO_MODEL)
    assert small['config'] == {'USE_GT': True, 'DATA': {'DATASET_NAME': 'x'}, 'TRAIN': {'USE_SCALER': True}}
    assert len(checkpoint.EXPORT_DROPPED_KEYS) == 7
    assert cfg['DATA']['TRAIN_PATH'] == '/t'           # the checkpoint's own config is not changed
