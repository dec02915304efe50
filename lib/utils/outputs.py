"""Preparing an entry point's output: every check first, nothing created until the inputs are good.

Every entry point that writes goes through the same two steps:

1. :func:`check_output_dir` / :func:`check_output_file`, right after the arguments
   are parsed and *before* anything is printed, loaded or created.  They create
   nothing and refuse (one :class:`UserError` line, exit 2):

   * an output that is not what it should be (a folder where a file belongs, a
     file where a folder belongs, a path under a regular file, a folder that
     cannot be written);
   * an output that is one of the run's inputs, or a folder that holds one
     (``--outdir`` equal to ``--images``; ``--out`` equal to ``--pretrain``);
   * an output that would replace earlier results, unless ``force`` (``--force``):
     a folder holding any of the ``finished`` names (a training run's
     ``results.json`` / checkpoints), any of the names the run will write
     (``will_write``), or -- with ``empty=True`` -- anything at all (a folder of
     results that belong together, such as the figures of one inference run).

2. :func:`create_output_dir`, called only once the inputs have been read and
   found good: it makes the folder (and checks that a file can be written in it).

So a run that fails on its input leaves the disk as it found it, and no file
the user had is replaced without ``--force``.
"""
import os

from lib.utils.errors import UserError
from lib.utils.safe_io import check_writable_dir


def _nearest_existing(path):
    """The path itself or its closest ancestor that exists."""
    p = path
    while not os.path.lexists(p):
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    return p


def _check_parent(path, flag, what):
    """The closest existing ancestor must be a writable folder (it is where ``path`` will be made)."""
    anc = _nearest_existing(os.path.dirname(path))
    if not os.path.isdir(anc):
        raise UserError('%s is not writable: %s is a file, not a folder' % (what, anc), flag,
                        'choose a path that is not under a file')
    if not os.access(anc, os.W_OK | os.X_OK):
        raise UserError('%s is not writable (no permission to create it in %s)' % (what, anc), flag,
                        'choose another folder or fix its permissions')
    _probe(anc, '%s %s' % (flag, path), what)


def _probe(folder, flag, what):
    """Create and delete a temporary file in ``folder``: permissions alone do not tell (root may
    write anywhere by them, yet not under /proc or on a read-only or full file system)."""
    import tempfile
    try:
        fd, tmp = tempfile.mkstemp(prefix='.probe-', dir=folder)
    except OSError as e:
        raise UserError('%s is not writable (%s in %s)' % (what, e.strerror or e, folder), flag,
                        'choose another folder, or fix the disk or its permissions') from None
    os.close(fd)
    os.unlink(tmp)


def _same(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _refuse_inputs(out, inputs, flag, what):
    """``out`` (a folder) must not be an input folder, nor hold an input file."""
    for inp in inputs:
        if not inp or not os.path.exists(inp):
            continue
        inp = os.path.abspath(inp)
        if os.path.isdir(inp) and os.path.isdir(out) and _same(inp, out):
            raise UserError('%s is the input folder %s: its files would be replaced' % (what, inp), flag,
                            'write the results into another folder')
        if os.path.isfile(inp) and os.path.isdir(out) and _same(os.path.dirname(inp), out):
            raise UserError('%s holds the input %s, which the results could replace' % (what, inp), flag,
                            'write the results into another folder')


def check_output_dir(path, flag, what='output folder', inputs=(), force=False, finished=(), will_write=(),
                     empty=False):
    """Check the output folder ``path`` (see the module docstring); create nothing.  Returns the
    absolute path.  ``flag`` names the option or key that set it (the error's location)."""
    out = os.path.abspath(os.fspath(path))
    if os.path.lexists(out) and not os.path.isdir(out):
        raise UserError('%s is not writable: it is a file, not a folder' % what, '%s %s' % (flag, out),
                        'choose a folder (missing folders are created)')
    _refuse_inputs(out, inputs, flag, what)
    if not os.path.isdir(out):
        _check_parent(out, flag, what)
        return out
    if not os.access(out, os.W_OK | os.X_OK):
        raise UserError('%s is not writable (no permission)' % what, '%s %s' % (flag, out),
                        'choose another folder or fix its permissions')
    _probe(out, '%s %s' % (flag, out), what)
    if force:
        return out
    names = [n for n in os.listdir(out) if not n.startswith('.')]
    earlier = [n for n in names if n in set(finished)]
    if earlier:
        raise UserError('%s holds a finished run (%s), which this run would replace' % (what, ', '.join(sorted(earlier))),
                        '%s %s' % (flag, out), 'choose another folder, or pass --force to replace it')
    clash = sorted(set(names) & set(will_write))
    if clash:
        raise UserError('%s already holds %s, which this run would replace' % (what, ', '.join(clash[:4]) +
                                                                             (' ...' if len(clash) > 4 else '')),
                        '%s %s' % (flag, out), 'choose another folder, or pass --force to replace them')
    if empty and names:
        raise UserError('%s is not empty (%d files, e.g. %s): results would replace or mix with them'
                        % (what, len(names), sorted(names)[0]), '%s %s' % (flag, out),
                        'choose a new or empty folder, or pass --force to write into it')
    return out


def check_output_file(path, flag, what='output file', inputs=(), force=False):
    """Check the output file ``path``: not a folder, not under a file, not an input, not an existing
    file (unless ``force``); create nothing.  Returns the absolute path."""
    out = os.path.abspath(os.fspath(path))
    if os.path.isdir(out):
        raise UserError('%s is a folder' % what, '%s %s' % (flag, out), 'name a file, e.g. %s'
                        % os.path.join(out, 'model.pth.tar'))
    for inp in inputs:
        if inp and os.path.exists(inp) and os.path.exists(out) and _same(inp, out):
            raise UserError('%s is the input file: writing it would destroy the input' % what,
                            '%s %s' % (flag, out), 'write to another file')
    if os.path.lexists(out):
        if not force:
            raise UserError('%s exists' % what, '%s %s' % (flag, out),
                            'choose another name, or pass --force to replace it')
        if not os.access(out, os.W_OK) or not os.access(os.path.dirname(out), os.W_OK | os.X_OK):
            raise UserError('%s is not writable (no permission)' % what, '%s %s' % (flag, out),
                            'choose another path or fix its permissions')
        return out
    _check_parent(out, flag, what)
    return out


def create_output_dir(path, flag, what='output folder'):
    """Make the checked output folder (and its parents); a UserError if it cannot be written."""
    check_writable_dir(path, what if flag in what else '%s (%s)' % (what, flag))
    return path
