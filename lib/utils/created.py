"""What this process has created: the files the atomic writes of :mod:`lib.utils.safe_io` made
(not those they replaced) and the folders they made, so that a failed run can remove exactly
its own outputs (:func:`discard_created`, called by :func:`lib.utils.errors.run_main` and
:func:`lib.utils.safe_io.all_or_nothing`) and never a file the user already had.
"""
import os
import shutil

# (path, os.stat of what this process made there): the files the atomic writes of
# lib/utils/safe_io.py created (not those they replaced) and the folders they made
_CREATED = []


def remember_created(path):
    """Note that this process made ``path`` (for :func:`discard_created`)."""
    try:
        _CREATED.append((path, os.stat(path)))
    except OSError:
        pass


def created_mark():
    """A mark for :func:`discard_created`: what is created after it."""
    return len(_CREATED)


def discard_created(since=0):
    """Remove the files and folders this process created (after ``since``) that are still the
    ones it made (a file put back since, e.g. an earlier run restored, is left alone)."""
    for path, st in reversed(_CREATED[since:]):
        try:
            if not os.path.samestat(st, os.stat(path)):
                continue
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        except OSError:
            pass
    del _CREATED[since:]
