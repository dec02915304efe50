"""Several processes with ``torchrun`` (torch.distributed: nccl on CUDA, gloo on CPU).

Each rank draws a disjoint share of every epoch (``train.epoch_permutation``),
the training step calls the pose model and the discriminators through
``DistributedDataParallel`` (:func:`wrap`), which averages their gradients
across ranks during each backward pass, and only rank 0 writes logs,
checkpoints and results.

How the step fits DDP:

* One generator step calls the pose model up to three times (current,
  TMC-neighbour and bone-partner frames) before one backward pass.  DDP
  allows that: autograd sums each parameter's gradient over the three uses
  before its accumulation hook fires, so every parameter is reported ready
  once.
* The alternating scheme freezes the lifter or the scaler (``requires_grad``)
  from one step to the next, and the adv warm start bypasses the scaler:
  ``find_unused_parameters=True`` lets DDP find, after each forward, the
  parameters that take no part; being unused on every rank, their ``.grad``
  is left as it is (None, or the zeroed tensor of
  ``COMPAT.FROZEN_KEEP_MOMENTUM``), as in one process.
* The discriminators are trained through their DDP wrappers in the
  discriminator step.  The generator's GAN terms call the plain
  discriminators: the discriminators' gradients from that backward pass are
  never used (the discriminator step zeroes them first), and DDP ignores
  gradient hooks outside the forward -> backward it prepared.
* A step skipped for a non-finite loss (``TRAIN.NONFINITE: skip``) runs no
  backward pass on any rank (the decision is agreed across ranks).
* DDP broadcasts rank 0's parameters and buffers when it wraps the models and
  its buffers (BatchNorm running statistics, spectral-norm vectors) at every
  forward; :func:`broadcast_buffers` does it once more before evaluation, which
  uses the plain model.  BatchNorm in training mode normalises with each rank's
  own batch statistics (DDP without SyncBatchNorm).

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


def wrap(state):
    """Under torchrun: the training step's pose model and discriminators become their
    ``DistributedDataParallel`` wrappers (rank 0's weights are broadcast to every rank)."""
    if not is_dist():
        return
    from torch.nn.parallel import DistributedDataParallel as DDP
    ids = [state.device.index] if state.device.type == 'cuda' else None
    state.fwd_model = DDP(state.model, device_ids=ids, find_unused_parameters=True)
    state.fwd_D = DDP(state.D, device_ids=ids)
    state.fwd_Dt = DDP(state.Dt, device_ids=ids)


def finish():
    if is_dist():
        td.barrier()
        td.destroy_process_group()
