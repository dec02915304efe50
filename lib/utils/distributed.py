"""Several processes with ``torchrun`` (torch.distributed: nccl on CUDA, gloo on CPU).

Each rank draws a disjoint share of every epoch (``train.epoch_permutation``),
gradients are averaged across ranks after every backward pass, and only rank 0
writes logs, checkpoints and results.

Why not the ``DistributedDataParallel`` wrapper: one training step here calls
the pose model up to three times before one backward pass (current,
neighbour and bone-partner frames) and freezes the lifter or the scaler per
step (the alternating scheme).  DDP's reducer expects one forward per backward
and a fixed set of trainable parameters.  The gradient all-reduce below is the
same arithmetic DDP performs (a mean over ranks, done in flat buckets).
"""
import os

import torch
import torch.distributed as td


def init():
    """Start the process group when launched by torchrun; returns (rank, world)."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if world <= 1:
        return 0, 1
    if not td.is_initialized():
        backend = 'nccl' if torch.cuda.is_available() else 'gloo'
        td.init_process_group(backend)
    return td.get_rank(), td.get_world_size()


def local_rank():
    return int(os.environ.get('LOCAL_RANK', '0'))


def is_dist():
    return td.is_available() and td.is_initialized() and td.get_world_size() > 1


def broadcast_module(module):
    for t in list(module.parameters()) + list(module.buffers()):
        td.broadcast(t.data, 0)


def average_gradients(params):
    """All-reduce (mean) the gradients of ``params`` in one flat bucket."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    td.all_reduce(flat)
    flat /= td.get_world_size()
    i = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[i:i + n].view_as(g))
        i += n


class GradSync:
    """Wraps an optimizer so that ``step()`` first averages gradients across ranks."""

    def __init__(self, opt):
        self.opt = opt

    def __getattr__(self, name):
        return getattr(self.opt, name)

    def step(self, *a, **k):
        params = [p for g in self.opt.param_groups for p in g['params']]
        average_gradients(params)
        return self.opt.step(*a, **k)


def wrap(state):
    """Make every rank start from rank 0's weights (gradients are averaged by GradSync)."""
    if not is_dist():
        return
    for m in (state.model, state.D, state.Dt):
        broadcast_module(m)


def finish():
    if is_dist():
        td.barrier()
        td.destroy_process_group()
