"""One error type for user mistakes.

Anything the user can fix (a bad config, a missing file, a malformed input)
raises :class:`UserError`.  Entry points catch it, print one line

    error: <what> (<where>): <how to fix>

and exit with code 2.  So does a disk that fails a write (full, over quota, read-only, an
I/O error, no permission: ``lib/utils/safe_io.py`` DISK_ERRORS), after removing what the run
had created, so that nothing partial is left.  Bugs are not wrapped: they keep their traceback.
Ctrl-C outside the training loop (which saves and exits by itself) prints
``interrupted`` and exits with 130.
"""
import argparse
import logging
import sys


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


def _to_log_files(line):
    """Record the error in the run's log file too, when the run has started one."""
    for h in logging.getLogger('uvhpe').handlers:
        if isinstance(h, logging.FileHandler):
            h.handle(logging.LogRecord('uvhpe', logging.ERROR, '', 0, line, None, None))


def run_main(main, argv=None):
    """Run ``main(argv)``; turn a UserError into one line on stderr and exit 2."""
    from lib.utils import safe_io
    from lib.utils.runtime import one_line_warnings
    one_line_warnings()                    # Python warnings as 'warning: ...' lines (entry points may widen it)
    mark = safe_io.created_mark()          # what this run creates comes after it
    try:
        rc = main(argv)
    except UserError as e:
        if getattr(e, 'discard', False):
            safe_io.discard_created(mark)
        _to_log_files(e.line())
        print(e.line(), file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except OSError as e:
        if not safe_io.is_disk_error(e):
            raise
        safe_io.discard_created(mark)      # the outputs of this run, which the failure left partial
        line = safe_io.disk_error(e).line()
        _to_log_files(line)
        print(line, file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:          # Ctrl-C outside training, or a second one during it
        print('interrupted', file=sys.stderr)
        sys.exit(130)
    sys.exit(rc or 0)
