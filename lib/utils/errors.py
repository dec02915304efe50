"""One error type for user mistakes.

Anything the user can fix (a bad config, a missing file, a malformed input)
raises :class:`UserError`.  Entry points catch it, print one line

    error: <what> (<where>): <how to fix>

and exit with code 2.  Bugs are not wrapped: they keep their traceback.
Ctrl-C outside the training loop (which saves and exits by itself) prints
``interrupted`` and exits with 130.
"""
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


EXIT_USER_ERROR = 2


def run_main(main, argv=None):
    """Run ``main(argv)``; turn a UserError into one line on stderr and exit 2."""
    try:
        rc = main(argv)
    except UserError as e:
        print(e.line(), file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:          # Ctrl-C outside training, or a second one during it
        print('interrupted', file=sys.stderr)
        sys.exit(130)
    sys.exit(rc or 0)
