"""One error type for user mistakes.

Anything the user can fix (a bad config, a missing file, a malformed input)
raises :class:`UserError`.  Entry points catch it, print one line

    error: <what> (<where>): <how to fix>

and exit with code 2.  So does a disk that fails a write (full, over quota, read-only, an
I/O error, no permission: DISK_ERRORS), after removing what the run had created
(:func:`lib.utils.created.discard_created`), so that nothing partial is left.  Bugs are not wrapped: they keep their traceback.
Ctrl-C outside the training loop (which saves and exits by itself) prints
``interrupted`` and exits with 130.
"""
import argparse
import errno
import logging
import os
import sys
import warnings

from lib.utils.created import created_mark, discard_created


class UserError(Exception):
    """A problem with the user's input, with a hint how to fix it."""

    def __init__(self, what, where=None, fix=None):
        self.what = str(what)
        self.where = None if where is None else str(where)
        self.fix = None if fix is None else str(fix)
        super().__init__(self.line())

    def line(self):
        s = 'error: ' + self.what
        if self.where:
            s += ' (%s)' % self.where
        if self.fix:
            s += ': ' + self.fix
        return ' '.join(s.split('\n'))

    def __str__(self):
        return self.line()


class QuietWarning(UserWarning):
    """A warning for the run's log file, shown on the console only with ``--verbose``
    (lib/utils/runtime.py): e.g. an unused key that every shipped config sets."""


EXIT_USER_ERROR = 2


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are UserErrors (one line, exit code 2)."""

    def error(self, message):
        raise UserError(message, 'command line', 'see %s --help' % self.prog)


# --- a failed disk, and what a failed run leaves -------------------------------------------

#: errors of the disk rather than of the program: a full disk, a quota, a read-only or failing file
#: system, a permission
DISK_ERRORS = {
    errno.ENOSPC: ('no space left on the device', 'free some space, or write to another disk'),
    getattr(errno, 'EDQUOT', -1): ('disk quota exceeded', 'free some space within your quota, or write elsewhere'),
    errno.EFBIG: ('file too large for the file system', 'write to another disk'),
    errno.EROFS: ('the file system is read-only', 'write to a writable folder'),
    errno.EIO: ('input/output error of the disk', 'check the disk, or write to another one'),
    errno.EACCES: ('permission denied', 'fix the permissions, or write to another folder'),
    errno.EPERM: ('operation not permitted', 'fix the permissions, or write to another folder'),
}


def is_disk_error(e):
    return isinstance(e, OSError) and e.errno in DISK_ERRORS


def disk_error(e, what='cannot write'):
    """A UserError for a disk error ``e`` (see DISK_ERRORS), naming its file."""
    why, fix = DISK_ERRORS.get(e.errno, (e.strerror or str(e), 'check the output path and the disk'))
    return UserError('%s: %s' % (what, why), e.filename, fix)


def _warning_line(message, category, filename, lineno, file=None, line=None):
    """Python warnings as one ``warning: ...`` line (a QuietWarning: none); the entry points that
    keep a log widen this (lib/utils/runtime.py one_line_warnings)."""
    if not issubclass(category, QuietWarning):
        print('warning: %s' % message, file=sys.stderr)


def _to_log_files(line):
    """Record the error in the run's log file too, when the run has started one."""
    for h in logging.getLogger('uvhpe').handlers:
        if isinstance(h, logging.FileHandler):
            h.handle(logging.LogRecord('uvhpe', logging.ERROR, '', 0, line, None, None))


def run_main(main, argv=None):
    """Run ``main(argv)``; turn a UserError into one line on stderr and exit 2."""
    warnings.showwarning = _warning_line
    mark = created_mark()                  # what this run creates comes after it
    try:
        rc = main(argv)
    except UserError as e:
        if getattr(e, 'discard', False):
            discard_created(mark)
        _to_log_files(e.line())
        print(e.line(), file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except OSError as e:
        if not is_disk_error(e):
            raise
        discard_created(mark)              # the outputs of this run, which the failure left partial
        line = disk_error(e).line()
        _to_log_files(line)
        print(line, file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:          # Ctrl-C outside training, or a second one during it
        print('interrupted', file=sys.stderr)
        sys.exit(130)
    sys.exit(rc or 0)
