"""run_main (lib/utils/errors.py): a bug keeps its traceback, Ctrl-C is one line and exit 130."""
import pytest

from lib.utils.errors import run_main


def test_a_bug_still_shows_its_traceback(capsys):
    def buggy(argv):
        return [][1]
    with pytest.raises(IndexError):
        run_main(buggy, [])


def test_ctrl_c_outside_training_is_one_line_exit_130(capsys):
    def interrupted(argv):
        raise KeyboardInterrupt
    with pytest.raises(SystemExit) as ex:
        run_main(interrupted, [])
    assert ex.value.code == 130 and capsys.readouterr().err == 'interrupted\n'
