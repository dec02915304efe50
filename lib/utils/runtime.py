"""Run-time plumbing shared by the entry points: paths, device, logging, signals."""
import logging
import os
import signal
import sys
import time
import warnings

import torch

from lib.utils.errors import UserError

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


def select_device(gpu, log=None):
    """``--gpu N``: cuda:N if present; -1 or no CUDA: CPU with a one-line warning."""
    gpu = str(gpu).strip()
    try:
        index = int(gpu.split(',')[0])
    except ValueError:
        raise UserError('--gpu must be an integer, got %r' % gpu, '--gpu', 'use 0, 1, ... or -1 for CPU') from None
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


def make_logger(log_file=None, quiet=False, rank=0):
    logger = logging.getLogger('uvhpe')
    logger.handlers.clear()
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    if rank == 0:
        h = logging.StreamHandler(sys.stdout)
        h.setLevel(logging.WARNING if quiet else logging.INFO)
        h.setFormatter(logging.Formatter('%(message)s'))
        logger.addHandler(h)
        if log_file:
            fh = logging.FileHandler(log_file)
            fh.setLevel(logging.DEBUG)
            fh.setFormatter(logging.Formatter('%(asctime)s %(levelname)s %(message)s'))
            logger.addHandler(fh)
    warnings.showwarning = lambda m, c, f, l, file=None, line=None: logger.warning('warning: %s' % m)
    return logger


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
        from lib.utils import distributed as dist
        return dist.any_rank(self.signum is not None)

    def __exit__(self, *a):
        for s, h in self._old.items():
            signal.signal(s, h)


def timestamp():
    return time.strftime('%Y-%m-%d-%H-%M-%S')
