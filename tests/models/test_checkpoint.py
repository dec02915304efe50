"""Atomic checkpoints (lib/models/checkpoint.py through lib/utils/safe_io.py): a crash during
a save leaves the old checkpoint, and the written file has normal permissions."""
import os

import pytest
import torch

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
