"""Several processes with ``torchrun`` (torch.distributed: nccl on CUDA, gloo on CPU).

Each rank draws a disjoint share of every epoch (``train.epoch_permutation``),
gradients are averaged across ranks after every backward pass, and only rank 0
writes logs, checkpoints and results.

Why not the ``DistributedDataParallel`` wrapper: one training step here calls
the pose model up to three times before one backward pass (current,
neighbour and bone-partner frames), a discriminator step calls it again under
``no_grad``, and the alternating scheme freezes the lifter or the scaler per
step.  DDP's reducer expects one forward per backward and a fixed set of
trainable parameters (``find_unused_parameters`` and ``static_graph`` do not
cover per-step ``requires_grad`` changes).  The gradient all-reduce below is
the same arithmetic DDP performs -- the sum over ranks divided by the world
size, one collective over a flat bucket -- run once per optimizer step
instead of overlapped with the backward pass (the model is small: one
bucket of a few million floats).  What DDP also does and this module does
explicitly: rank 0's weights are broadcast at the start (:func:`wrap`), and
rank 0's buffers (BatchNorm running statistics, which each rank updates from
its own batches, as under DDP with ``broadcast_buffers``) are broadcast
before every evaluation (:func:`broadcast_buffers`), so that every rank
evaluates the model rank 0 saves.  BatchNorm in training mode normalises
with each rank's own batch statistics, as under DDP without SyncBatchNorm.

Evaluation is sharded: each rank lifts a contiguous part of the test split
and :func:`gather_rows` collects the predictions, in order, on every rank.
"""
import os

import torch
import torch.distributed as td


def init(cpu=False):
    """Start the process group when launched by torchrun; returns (rank, world).

    nccl when the ranks train on CUDA, gloo on CPU (``cpu=True``, e.g. ``--gpu -1``).
    """
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if world <= 1:
        return 0, 1
    if not td.is_initialized():
        backend = 'nccl' if torch.cuda.is_available() and not cpu else 'gloo'
        td.init_process_group(backend)
    return td.get_rank(), td.get_world_size()


def rank_world():
    if is_dist():
        return td.get_rank(), td.get_world_size()
    return 0, 1


def local_rank():
    return int(os.environ.get('LOCAL_RANK', '0'))


def is_dist():
    return td.is_available() and td.is_initialized() and td.get_world_size() > 1


def broadcast_module(module):
    for t in list(module.parameters()) + list(module.buffers()):
        td.broadcast(t.data, 0)


def broadcast_buffers(module):
    """Rank 0's buffers (BatchNorm running statistics) on every rank."""
    if is_dist():
        for b in module.buffers():
            td.broadcast(b.data, 0)


def gather_rows(t, n_total):
    """Concatenate, in rank order, each rank's rows of ``t`` (ranks hold contiguous shards
    of ``ceil(n_total / world)`` rows, the last possibly fewer); returns ``n_total`` rows on
    every rank."""
    if not is_dist():
        return t
    world = td.get_world_size()
    per = -(-n_total // world)
    pad = t.new_zeros((per,) + tuple(t.shape[1:]))
    pad[:t.shape[0]] = t
    parts = [torch.empty_like(pad) for _ in range(world)]
    td.all_gather(parts, pad)
    return torch.cat(parts)[:n_total]


def shard(n_total):
    """This rank's contiguous slice of ``n_total`` rows (see :func:`gather_rows`)."""
    rank, world = rank_world()
    per = -(-n_total // world)
    return slice(min(rank * per, n_total), min((rank + 1) * per, n_total))


def any_rank(flag):
    """True on every rank when ``flag`` is true on any rank (so that all ranks take the same branch)."""
    if not is_dist():
        return bool(flag)
    device = torch.device('cuda', torch.cuda.current_device()) if td.get_backend() == 'nccl' else None
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    td.all_reduce(t, op=td.ReduceOp.MAX)
    return bool(t.item() > 0)


def broadcast_object(obj):
    """Rank 0's ``obj`` (picklable) on every rank."""
    if not is_dist():
        return obj
    box = [obj]
    td.broadcast_object_list(box, 0)
    return box[0]


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
