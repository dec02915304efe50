"""Run-time plumbing shared by the entry points: paths, threads, device, logging, signals.

Nothing here imports torch at module level: the entry points parse their
arguments and check the config before the (slow) torch import.
"""
import logging
import os
import signal
import sys
import time
import warnings

from lib.utils.errors import QuietWarning, UserError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS_DIR = os.path.join(REPO_ROOT, 'tools')


def cli_path(p):
    """A path given on the command line: relative to the current directory."""
    return os.path.abspath(p) if p else p


def cfg_path(p):
    """A path written in a config: relative to tools/, as in the original project."""
    if not p or os.path.isabs(p):
        return p
    return os.path.normpath(os.path.join(TOOLS_DIR, p))


DEFAULT_THREADS = 1     # safe when the cores are shared (see set_threads)
MAX_THREADS = 1024      # more is a typo, not a machine


def resolve_threads(flag=None, cfg_value=0):
    """The number of CPU threads and where it came from: ``--threads``, else the config's
    ``THREADS`` (0 = unset), else ``$OMP_NUM_THREADS``, else :data:`DEFAULT_THREADS`.

    The default is one thread: with PyTorch's default (one per core) a run slows down many
    times as soon as another process uses a core, because its threads wait for each other; on a
    machine you have to yourself, more threads (up to the physical cores) train faster.
    """
    if flag is not None:
        n, where = flag, '--threads'
    elif cfg_value:
        n, where = cfg_value, 'THREADS in the config'
    elif os.environ.get('OMP_NUM_THREADS', '').strip():
        n, where = os.environ['OMP_NUM_THREADS'].strip(), '$OMP_NUM_THREADS'
    else:
        return DEFAULT_THREADS, 'default; --threads N to change'
    try:
        count = int(n)
    except (TypeError, ValueError):
        count = 0
    if not 1 <= count <= MAX_THREADS:
        raise UserError('thread count must be a positive integer (at most %d), got %r' % (MAX_THREADS, n), where,
                        'use e.g. --threads 1 on a shared machine, up to the number of cores on your own')
    return count, where


def set_threads(n):
    """Use ``n`` CPU threads in PyTorch (and its OpenMP / MKL pools, if torch is not loaded yet)."""
    for var in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ[var] = str(n)
    import torch
    torch.set_num_threads(n)
    return n


def apply_threads(flag, cfg_value):
    """:func:`resolve_threads` then :func:`set_threads`; returns (n, where it came from)."""
    n, where = resolve_threads(flag, cfg_value)
    set_threads(n)
    return n, where


def select_device(gpu, log=None):
    """``--gpu N``: cuda:N if present; -1 or no CUDA: CPU with a one-line warning."""
    gpu = str(gpu).strip()
    try:
        index = int(gpu.split(',')[0])
    except ValueError:
        raise UserError('--gpu must be an integer, got %r' % gpu, '--gpu', 'use 0, 1, ... or -1 for CPU') from None
    import torch
    if 'LOCAL_RANK' in os.environ and torch.cuda.is_available() and index >= 0:
        index = int(os.environ['LOCAL_RANK'])
    if index < 0:
        return torch.device('cpu')
    if not torch.cuda.is_available():
        msg = 'warning: CUDA is not available, running on CPU'
        (log.warning if log else lambda m: print(m, file=sys.stderr))(msg)
        return torch.device('cpu')
    n = torch.cuda.device_count()
    if index >= n:
        raise UserError('--gpu %d but this machine has %d GPU(s)' % (index, n), '--gpu',
                        'use an index below %d, or -1 for CPU' % n)
    torch.cuda.set_device(index)
    return torch.device('cuda', index)


class DeferredFileHandler(logging.FileHandler):
    """A log file that does not exist until :meth:`start`: records before it are kept in memory
    and written first.  A run that fails on its input (before it starts) leaves no log behind."""

    def __init__(self, path):
        super().__init__(path, delay=True)
        self.started = False
        self.held = []

    def emit(self, record):
        if self.started:
            super().emit(record)
        else:
            self.held.append(record)

    def start(self):
        self.started = True
        for r in self.held:
            super().emit(r)
        self.held = []


# QuietWarnings seen before the run's log file exists: make_logger writes them into it
_HELD = []


def make_logger(log_file=None, quiet=False, rank=0, deferred=False, verbose=False):
    """The run's logger: the console (INFO; WARNING with ``quiet``; DEBUG with ``verbose``) and
    the log file (everything; with ``deferred`` created only by :func:`start_log_file`).  Python
    warnings become ``warning:`` lines on both, except a :class:`QuietWarning`, which is a DEBUG
    line (the log file; the console only with ``verbose``); those seen earlier (while the config
    loaded) are written into the file first."""
    logger = logging.getLogger('uvhpe')
    logger.handlers.clear()
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    if rank == 0:
        h = logging.StreamHandler(sys.stdout)
        h.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
        h.setFormatter(logging.Formatter('%(message)s'))
        logger.addHandler(h)
        if log_file:
            fh = DeferredFileHandler(log_file) if deferred else \
                logging.FileHandler(log_file, delay=True)       # no file until there is a line
            fh.setLevel(logging.DEBUG)
            fh.setFormatter(logging.Formatter('%(asctime)s %(levelname)s %(message)s'))
            logger.addHandler(fh)
            for m in _HELD:           # already on the console if verbose: to the file only
                fh.handle(logger.makeRecord(logger.name, logging.DEBUG, '', 0, 'warning: %s' % m, None, None))
    _HELD.clear()

    def show(m, c, f, l, file=None, line=None):
        if issubclass(c, QuietWarning):
            logger.debug('warning: %s' % m)
        else:
            logger.warning('warning: %s' % m)
    warnings.showwarning = show
    return logger


def start_log_file(logger):
    """Open the deferred log file of ``logger`` (see :class:`DeferredFileHandler`)."""
    for h in logger.handlers:
        if isinstance(h, DeferredFileHandler):
            h.start()


def one_line_warnings(verbose=False):
    """Print Python warnings as ``warning: <message>`` lines on stderr (no source line); a
    :class:`QuietWarning` only with ``verbose``, and it is kept for the log file of
    :func:`make_logger`."""
    def show(m, c, f, l, file=None, line=None):
        if issubclass(c, QuietWarning):
            _HELD.append(str(m))
            if not verbose:
                return
        print('warning: %s' % m, file=sys.stderr)
    warnings.showwarning = show


class StopFlag:
    """SIGINT / SIGTERM set a flag; training finishes the current step, saves and exits."""

    def __init__(self):
        self.signum = None
        self._old = {}

    def __enter__(self):
        for s in (signal.SIGINT, signal.SIGTERM):
            self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signum is not None:      # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.signum = signum

    def __call__(self):
        """Whether to stop.  Under torchrun, true on every rank once any rank got a signal
        (a collective: all ranks call it at the same points), so that all stop at one step."""
        from lib.utils import distributed as dist  # loads torch
        return dist.any_rank(self.signum is not None)

    def __exit__(self, *a):
        for s, h in self._old.items():
            signal.signal(s, h)


def timestamp():
    """The time of day and this process's id: names of log files and tensorboard folders, distinct
    for two runs started in the same second."""
    return '%s_%d' % (time.strftime('%Y-%m-%d-%H-%M-%S'), os.getpid())
