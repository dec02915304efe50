"""The runner of the bad-input catalogues in ``test_*_bad_inputs.py`` (one file per entry
point: scripts/inference.py, tools/main.py's paths, output folders and MPI-INF-3DHP / SURREAL
files, tools/prepare_data.py, tools/vis_sequences.py, tools/eval_lsp.py, tools/export_model.py;
tools/main.py's configs, readers and checkpoints are in test_main_bad_inputs.py).

Each case of a ``CATALOGUE`` (case -> (script, setup(tmp, ctx) -> argv, needles, quiet)) must
end in exit code 2 with exactly one ``error: <what> (<where>): <fix>`` line on stderr naming
what the case says, no traceback, and leave the disk as it found it: no file or folder created
and no existing file changed (a snapshot of the case's folder, and of the repository's run
folders, before and after).  ``quiet`` cases (a bad path or option) must also print nothing on
stdout: they are refused before the model is chosen.  Everything runs in-process (``runpy``),
on tiny synthetic inputs.
"""
import errno
import hashlib
import os

from helpers import REPO, assert_one_error_line, run_inproc

REPO_RUN_FOLDERS = [os.path.join(REPO, d) for d in ('output', 'log', 'vis', 'models', 'data')]


# --- running an entry point in this process, and what it left on disk -------------------

def run_entry(script, argv, capsys):
    """``python <script> <argv>`` in this process: (exit code, stdout, stderr)."""
    return run_inproc(argv, capsys, script)


def snapshot(*roots):
    """{path: 'dir' | (size, mtime, md5)} of everything under ``roots``."""
    out = {}
    for root in roots:
        for dirpath, dirs, files in os.walk(str(root)):
            for d in dirs:
                out[os.path.join(dirpath, d)] = 'dir'
            for f in files:
                p = os.path.join(dirpath, f)
                st = os.stat(p)
                with open(p, 'rb') as fh:
                    out[p] = (st.st_size, st.st_mtime_ns, hashlib.md5(fh.read()).hexdigest())
    return out


def assert_unchanged(before, after):
    made = sorted(set(after) - set(before))
    gone = sorted(set(before) - set(after))
    changed = sorted(p for p in set(before) & set(after) if before[p] != after[p])
    assert not made and not gone and not changed, ('created', made, 'removed', gone, 'changed', changed)


def entry(script, build, *needles, quiet=True):
    """A catalogue case of ``script``."""
    return (script, build, needles, quiet)


def check_case(case, ctx_base, tmp_path, capsys, monkeypatch):
    """Run one catalogue case and check the contract above."""
    script, build, needles, quiet = case
    ctx = dict(ctx_base, monkeypatch=monkeypatch)
    work = tmp_path / 'case'
    work.mkdir()
    argv = build(work, ctx)
    before = snapshot(work, *REPO_RUN_FOLDERS)
    rc, out, err = run_entry(script, argv, capsys)
    assert_one_error_line(rc, err, *needles)
    if quiet:
        assert out == '', out
    assert_unchanged(before, snapshot(work, *REPO_RUN_FOLDERS))



def disk_full_after(monkeypatch, n, code=errno.ENOSPC):
    """Make every ``os.replace`` after the first ``n`` fail as a full disk does (``code``: ENOSPC, or
    EDQUOT, EIO ...): the last step of every atomic write, so the ``n`` outputs before it are
    written and the next one fails -- a full disk in the middle of a run, without filling one."""
    real, count = os.replace, [0]

    def replace(src, dst, *a, **k):
        count[0] += 1
        if count[0] > n:
            raise OSError(code, os.strerror(code))
        return real(src, dst, *a, **k)
    monkeypatch.setattr(os, 'replace', replace)


def disk_full(build, n=0, code=errno.ENOSPC):
    """A case builder: ``build``'s command line, run with the disk full after ``n`` written outputs."""
    def b(tmp, ctx):
        argv = build(tmp, ctx)
        disk_full_after(ctx['monkeypatch'], n, code)
        return argv
    return b
