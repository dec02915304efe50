"""Reading untrusted files without running code, and writing files atomically.

* :func:`safe_pickle_load` unpickles with an allow-list: plain containers,
  numbers, strings and NumPy arrays.  A pickle that names any other callable
  (``os.system``, ``builtins.eval`` ...) is refused before anything runs.
* :func:`load_npz` reads ``.npz`` archives, including the object arrays
  (dicts of dicts of arrays) of the VideoPose3D layout, through that same
  unpickler instead of ``np.load(allow_pickle=True)``.
* :func:`atomic_write` writes to a temporary file in the target folder,
  flushes, fsyncs and renames, so readers see the old file or the new one,
  never half of one.
* Every file and folder those writes create is remembered (``lib.utils.created.remember_created``),
  so that a run that fails halfway (a full disk, say) can remove what it made
  (``discard_created``, called by :func:`lib.utils.errors.run_main`; :func:`all_or_nothing` for
  one group of files).
"""
import io
import os
import pickle
import tempfile
import zipfile
from contextlib import contextmanager

import numpy as np

from lib.utils.created import created_mark, discard_created, remember_created
from lib.utils.errors import DISK_ERRORS, UserError

_ALLOWED = {
    ('builtins', 'dict'), ('builtins', 'list'), ('builtins', 'tuple'),
    ('builtins', 'set'), ('builtins', 'frozenset'), ('builtins', 'str'),
    ('builtins', 'bytes'), ('builtins', 'bytearray'), ('builtins', 'int'),
    ('builtins', 'float'), ('builtins', 'complex'), ('builtins', 'bool'),
    ('builtins', 'slice'), ('builtins', 'range'),
    ('collections', 'OrderedDict'), ('collections', 'defaultdict'),
    ('numpy', 'ndarray'), ('numpy', 'dtype'),
    ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'), ('numpy._core.multiarray', 'scalar'),
    ('numpy', 'float32'), ('numpy', 'float64'), ('numpy', 'int64'), ('numpy', 'int32'),
    ('_codecs', 'encode'),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        if module in ('numpy', 'numpy.dtypes') and name.endswith('DType'):
            return super().find_class(module, name)
        raise pickle.UnpicklingError('refusing to load %s.%s' % (module, name))


def safe_pickle_loads(data, where='<bytes>'):
    """Unpickle ``data`` allowing only containers, numbers, strings and arrays."""
    try:
        return _SafeUnpickler(io.BytesIO(data), encoding='latin1').load()
    except pickle.UnpicklingError as e:
        raise UserError('pickle refused or unreadable: %s' % e, where,
                        'only plain containers and NumPy arrays are accepted') from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise UserError('pickle is truncated or corrupt (%s)' % type(e).__name__, where,
                        'get a fresh copy of the file') from None


def safe_pickle_load(path):
    with open(path, 'rb') as f:
        return safe_pickle_loads(f.read(), path)


def _read_npy_member(raw, where):
    fp = io.BytesIO(raw)
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
    if dtype.hasobject:
        return safe_pickle_loads(fp.read(), where)
    fp.seek(0)
    return np.lib.format.read_array(fp, allow_pickle=False)


def load_npz(path, what='archive', fix='check the file or download it again'):
    """Read every member of an ``.npz`` into a dict, object arrays included.

    Object members (pickled) go through the allow-list unpickler.  A 0-d
    object array holding a dict comes back as the dict itself.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise UserError('%s not found' % what, path, fix)
    out = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                key = name[:-4] if name.endswith('.npy') else name
                arr = _read_npy_member(zf.read(name), '%s:%s' % (path, key))
                if isinstance(arr, np.ndarray) and arr.dtype == object and arr.shape == ():
                    arr = arr.item()
                out[key] = arr
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError) as e:
        raise UserError('%s is not a readable .npz (%s)' % (what, str(e).split('\n')[0]), path,
                        fix) from None
    return out


def _topmost_missing(folder):
    """The highest ancestor of ``folder`` (or itself) that does not exist yet, else None."""
    top, p = None, os.path.abspath(folder)
    while not os.path.lexists(p):
        top, parent = p, os.path.dirname(p)
        if parent == p:
            break
        p = parent
    return top


def makedirs_remembered(folder):
    """``os.makedirs(folder, exist_ok=True)``, remembering the folders made (for discard_created)."""
    top = _topmost_missing(folder)
    os.makedirs(folder, exist_ok=True)
    if top is not None:
        remember_created(top)


@contextmanager
def all_or_nothing():
    """The files (and folders) the block creates are removed if it fails: a group of outputs
    that belong together (e.g. the ``_3d.npy``, ``_3d.json`` and figures of one input)."""
    mark = created_mark()
    try:
        yield
    except BaseException:
        discard_created(mark)
        raise


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path, suffix='.tmp'):
    """Yield a temporary file name next to ``path``; on success give it the usual
    (umask'd) permissions, rename it over ``path`` and fsync the folder; on failure
    delete it.  For writers that need a file *name* (e.g. matplotlib's animation
    writers); :func:`atomic_write` builds on it."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        makedirs_remembered(folder)
        fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix=suffix, dir=folder)
    except OSError as e:           # a folder that cannot be made or written (e.g. under /proc)
        err = UserError('cannot write the file (%s)' % (DISK_ERRORS.get(e.errno, (e.strerror or e,))[0]), path,
                        'choose a writable output path, or fix the disk or permissions')
        err.discard = True                  # what the run made before is partial: run_main removes it
        raise err from None
    os.close(fd)
    new = not os.path.lexists(path)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())      # mkstemp made it 0600
        os.replace(tmp, path)
        if new:
            remember_created(path)
        try:
            dfd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and e.filename is None:
            e.filename = path                  # (a failed write() names no file): the error line names it
        raise


@contextmanager
def atomic_write(path, mode='wb'):
    """Open a temporary file next to ``path``; on success flush, fsync and rename it."""
    with atomic_path(path) as tmp:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_TRUNC), mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def atomic_copy(src, dst):
    """Copy ``src`` to ``dst`` through :func:`atomic_write` (``dst`` is never half-written)."""
    import shutil
    with open(src, 'rb') as fi, atomic_write(dst) as fo:
        shutil.copyfileobj(fi, fo, 1 << 20)


def remove_stale_temps(folder, name):
    """Delete temporary files that a killed :func:`atomic_write` of ``name`` left in ``folder``."""
    removed = 0
    try:
        entries = os.listdir(folder)
    except OSError:
        return 0
    prefix = '.' + name + '.'
    for e in entries:
        if e.startswith(prefix) and e.endswith('.tmp'):
            try:
                os.unlink(os.path.join(folder, e))
                removed += 1
            except OSError:
                pass
    return removed


def check_writable_dir(path, what='output folder'):
    """Create ``path`` if needed and fail with a UserError if it is not writable."""
    try:
        makedirs_remembered(path)
        fd, tmp = tempfile.mkstemp(dir=path)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        err = UserError('%s is not writable (%s)' % (what, e.strerror or e), path,
                        'choose another folder or fix its permissions')
        err.discard = True                  # e.g. the log folder made just before: run_main removes it
        raise err from None
