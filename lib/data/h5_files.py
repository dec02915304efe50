"""Reading the authors' HDF5 files: opening, the keys a file must hold, checked arrays.

One set of checks for every ``.h5`` reader (:mod:`lib.data.dataset`, :mod:`lib.data.mpi_surreal`,
:mod:`lib.vis.sequences`), each failure a one-line :class:`UserError` naming the file and the fix.
"""
from contextlib import contextmanager

import numpy as np

from lib.utils.errors import UserError

NOT_HDF5 = 'the file is truncated or not HDF5: download it again'


@contextmanager
def open_h5(path, fix=NOT_HDF5):
    """``h5py.File(path, 'r')``; an OSError while opening or reading it (a truncated or
    non-HDF5 file) becomes a UserError with ``fix``."""
    import h5py
    try:
        with h5py.File(path, 'r') as f:
            yield f
    except OSError as e:
        raise UserError('cannot read HDF5 file (%s)' % str(e).split('\n')[0], path, fix) from None


def require_keys(f, keys, path, fix):
    """UserError naming the first of ``keys`` that the open h5 file ``f`` lacks."""
    for k in keys:
        if k not in f:
            raise UserError('data file has no dataset %r' % k, path, fix)


def h5_array(f, key, path, fix, text=False):
    """Dataset ``key`` of the open h5 file ``f`` as float64 (``text``: as str), checked: a dataset
    (not a group), of numbers (or strings), with at least one row; UserError naming the key."""
    import h5py
    obj = f[key]
    if not isinstance(obj, h5py.Dataset):
        raise UserError('%s is a %s, not a dataset' % (key, type(obj).__name__.lower()), path, fix)
    kind = obj.dtype.kind
    if (kind not in 'SOU') if text else (kind not in 'fiu'):
        raise UserError('%s has dtype %s, expected %s' % (key, obj.dtype, 'strings' if text else 'numbers'),
                        path, fix)
    if obj.shape == () or obj.shape[0] == 0:
        raise UserError('%s has no rows (shape %s)' % (key, obj.shape), path, fix)
    a = obj[()]
    if not text:
        return np.asarray(a, np.float64)
    try:
        return np.array([n.decode() if isinstance(n, bytes) else str(n) for n in np.ravel(a)])
    except UnicodeDecodeError:
        raise UserError('%s holds names that are not UTF-8 text' % key, path, fix) from None
