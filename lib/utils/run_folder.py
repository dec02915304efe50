"""A run's output folder is a unit: one run at a time, and an earlier run replaced whole or not at all.

* **A lock.**  A run writes into its folder only while it holds ``<folder>/.run.lock``: an
  exclusive, non-blocking ``flock`` (``msvcrt.locking`` on Windows), standard library only.  The
  operating system drops the lock when the process ends, however it ends (a SIGKILL, a power
  cut), so a dead run never blocks the next one and there is no stale lock to clean up.  The
  file holds the holder's pid, host and start time; a second run into the folder is refused
  with one line naming them (:func:`check_free` beforehand, read-only; :meth:`RunFolder.open`
  for certain).  On a finished run the file is removed.
* **A transaction.**  With ``--force``, :meth:`RunFolder.open` moves the earlier run's files
  aside (into a hidden ``.replaced-<pid>`` folder) before the new run writes anything;
  :meth:`commit` deletes them once the new run's files stand on their own (a finished run, or a
  checkpoint it can resume from); :meth:`abort` (a failure before that) removes what the new
  run wrote and puts the earlier files back.  So the folder holds one run's files, never a mix.
"""
import json
import os
import shutil
import socket
import sys
import time

from lib.utils.errors import UserError
from lib.utils.outputs import create_output_dir

LOCK_NAME = '.run.lock'
#: the files that make a folder hold a training run (which only --force or its own --resume may touch)
FINISHED_RUN = ('results.json', 'checkpoint.pth.tar', 'model_best.pth.tar')
ASIDE_PREFIX = '.replaced-'


def _try_lock(fd):
    """Take the lock of the open file ``fd`` without waiting: True, or False when another holds it."""
    try:
        if os.name == 'nt':
            import msvcrt
            os.lseek(fd, 1 << 20, os.SEEK_SET)      # lock a byte past the holder's text, which stays readable
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, PermissionError):
        return False
    except OSError as e:            # a file system without locks (some network mounts): carry on unlocked
        import errno
        if e.errno in (errno.EAGAIN, errno.EACCES, getattr(errno, 'EWOULDBLOCK', errno.EAGAIN)):
            return False
    return True


def _holder(path):
    """'pid 123 on host, started 2026-01-01 12:00:00' from a lock file (or a shorter text)."""
    try:
        with open(path) as f:
            h = json.loads(f.read() or '{}')
        return 'pid %s on %s, started %s' % (h['pid'], h['host'], h['started'])
    except (OSError, ValueError, KeyError, TypeError):
        return 'a process that has not written its name yet'


def _busy(folder, path, flag):
    return UserError('the output folder is in use by another run (%s)' % _holder(path), '%s %s' % (flag, folder),
                     'wait until that run ends, or write into another folder')


def check_free(folder, flag='OUTPUT_DIR'):
    """Refuse (one line) a folder another running process holds; reads only, creates nothing."""
    path = os.path.join(folder, LOCK_NAME)
    try:
        fd = os.open(path, os.O_RDWR if os.name == 'nt' else os.O_RDONLY)
    except OSError:
        return                      # no lock file (or none readable): nobody holds the folder
    try:
        if not _try_lock(fd):
            raise _busy(folder, path, flag)
    finally:
        os.close(fd)                # (closing drops the lock we may just have taken)


class FolderLock:
    """The lock of ``folder`` (which must exist), held until :meth:`release`."""

    def __init__(self, folder, flag='OUTPUT_DIR'):
        self.path = os.path.join(folder, LOCK_NAME)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(fd):
                os.close(fd)
                raise _busy(folder, self.path, flag)
            try:                    # the holder before us may have removed the file as it let go
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except OSError:
                same = False
            if same:
                break
            os.close(fd)
        self.fd = fd
        text = json.dumps({'pid': os.getpid(), 'host': socket.gethostname(),
                           'started': time.strftime('%Y-%m-%d %H:%M:%S'), 'command': ' '.join(sys.argv)})
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, text.encode())

    def release(self):
        if self.fd is None:
            return
        if os.name != 'nt':         # (Windows cannot remove an open file: it stays, unlocked)
            try:
                os.unlink(self.path)
            except OSError:
                pass
        os.close(self.fd)
        self.fd = None


class RunFolder:
    """The output folder of one run (see the module docstring).  ``replace``: the earlier run's
    files are moved aside at :meth:`open` (``--force``; never for a run that continues its own
    folder)."""

    def __init__(self, path, flag='OUTPUT_DIR', what='output folder (OUTPUT_DIR)', replace=False):
        self.path, self.flag, self.what, self.replace = path, flag, what, replace
        self.lock = self.aside = None
        self.created = False
        self.before = set()

    def open(self):
        """Make the folder, take its lock, move an earlier run's files aside (``replace``)."""
        self.created = not os.path.isdir(self.path)
        create_output_dir(self.path, self.flag, self.what)
        self.lock = FolderLock(self.path, self.flag)
        names = [n for n in os.listdir(self.path) if not n.startswith('.')]
        if self.replace and names:
            self.aside = os.path.join(self.path, '%s%d' % (ASIDE_PREFIX, os.getpid()))
            os.mkdir(self.aside)
            for n in names:
                os.rename(os.path.join(self.path, n), os.path.join(self.aside, n))
            names = []
        self.before = set(names)
        return self

    @property
    def replaced(self):
        """True when this run replaces an earlier one (whose files are aside until commit)."""
        return self.aside is not None

    def commit(self):
        """The new run's files stand on their own: delete the earlier run's (kept aside until now)."""
        if self.aside is not None:
            shutil.rmtree(self.aside, ignore_errors=True)
            self.aside = None

    def close(self):
        """Commit and let go of the folder (a finished run, or one stopped resumable)."""
        self.commit()
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def abort(self, extra=()):
        """A failure before the new run's files stand on their own: remove what it wrote (and the
        paths ``extra``, e.g. its tensorboard folder), put the earlier run's files back, let go."""
        for p in extra:
            shutil.rmtree(p, ignore_errors=True)
        if self.lock is None:
            return
        if self.created and self.aside is None:
            self.lock.release()
            self.lock = None
            shutil.rmtree(self.path, ignore_errors=True)
            return
        for n in os.listdir(self.path):
            p = os.path.join(self.path, n)
            if n.startswith('.') or n in self.before:
                continue
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                try:
                    os.unlink(p)
                except OSError:
                    pass
        if self.aside is not None:
            for n in os.listdir(self.aside):
                os.rename(os.path.join(self.aside, n), os.path.join(self.path, n))
            os.rmdir(self.aside)
            self.aside = None
        self.lock.release()
        self.lock = None
