"""Drive the authors' training loop and this project's on the same batches, and record both.

The project's :func:`lib.train.step.train_epoch` draws its batches from a
:class:`~lib.data.batches.TensorSplit`; :func:`planned_epoch` draws the very same
batches (same permutation, same generator draws, in the same order), so that the
authors' ``train()`` can be fed them through a :class:`PlannedLoader`, including
the batch of their end-of-epoch figure forward.  :class:`StepRecorder` hooks an
optimiser's ``step`` to keep each step's gradients and the parameters after it;
:class:`ScalarLog` stands in for a tensorboard writer and keeps the logged losses
per step.
"""
import torch

from lib.train import schedule as TS

# the authors' logged loss names -> this project's term names (train/<name>)
THEIR_TERMS = {
    'loss_kl': 'kl', 'loss_s_bone': 'bone', 'loss_pose_subnet': 'total',
    'pose_loss/iters': 'total', '3d_loss/iters': 'l3d', '2d_loss/iters': 'l2d',
    'dis_g_loss/iters': 'gan', 'temp_loss/iters': 'tmc', 'temp_g_loss/iters': 'temp_gan',
    'scale_loss/iters': 'kl', 'scale_bone_loss/iters': 'bone',
}


def planned_epoch(data, cfg, epoch, gen_state, n_steps):
    """(batches, figure batch, generator state after) exactly as ``train_epoch`` draws them
    from a generator in ``gen_state`` (one process)."""
    g = torch.Generator(device=data.pose_2d.device)
    g.set_state(gen_state)
    B = cfg.BATCH_SIZE
    perm = TS.epoch_permutation(len(data), cfg.RANDOM_SEED, epoch, device=data.pose_2d.device)
    nb, far = TS.batch_needs(cfg, TS.epoch_scheme(cfg, epoch))
    batches = [data.batch(perm[k * B:(k + 1) * B], cfg, g, nb, far) for k in range(n_steps)]
    idx = torch.randperm(len(data), generator=g, device=data.pose_2d.device)[:B]
    return batches, data.batch(idx, cfg, g), g.get_state()


def their_tuple(batch):
    """A project Batch as the authors' loader yields it: (2D, 3D, rot, diff1, diff2, scale).
    The 3D and the scale feed only their logged diagnostics."""
    n = batch.x.shape[0]
    like = batch.x
    x_nb = batch.x_nb if batch.x_nb is not None else like
    x_far = batch.x_far if batch.x_far is not None else like
    return batch.x, like.new_zeros(n, 17, 3), batch.rot, x_nb, x_far, like.new_zeros(n)


class PlannedLoader:
    """Yields the epoch's batches; the next iteration (their figure) yields the figure batch."""

    def __init__(self, batches, figure_batch, n_rows):
        self.batches = [their_tuple(b) for b in batches]
        self.figure = their_tuple(figure_batch)
        self.dataset = range(n_rows)
        self._calls = 0

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        self._calls += 1
        return iter(self.batches if self._calls % 2 == 1 else [self.figure])


class StepRecorder:
    """Hooks ``optimizer.step``: keeps (gradients before, parameters after) of every step."""

    def __init__(self, optimizer, model, on_step=None):
        self.steps = []
        inner, named = optimizer.step, list(model.named_parameters())

        def step(*a, **k):
            grads = {n: None if p.grad is None else p.grad.detach().clone() for n, p in named}
            out = inner(*a, **k)
            self.steps.append((grads, {n: p.detach().clone() for n, p in named}))
            if on_step is not None:
                on_step()
            return out
        optimizer.step = step


class ScalarLog:
    """A stand-in tensorboard writer: ``per_step`` holds one {name: value} per step
    (``new_step`` starts the next); images are dropped."""

    def __init__(self):
        self.per_step = []

    def new_step(self):
        self.per_step.append({})

    def add_scalar(self, name, value, it=None):
        if self.per_step:
            self.per_step[-1][name] = float(value)

    def add_image(self, *a, **k):
        pass

    def close(self):
        pass


def copy_weights(src, dst):
    """Load each source module's state dict into the matching destination, strictly."""
    for s, d in zip(src, dst):
        d.load_state_dict(s.state_dict(), strict=True)


def max_abs_diff(a, b):
    """Largest |a - b| over two {name: tensor or None} dicts with the same keys (inf when one
    side has a tensor and the other None)."""
    worst = 0.0
    assert a.keys() == b.keys(), sorted(set(a) ^ set(b))
    for k in a:
        x, y = a[k], b[k]
        if x is None or y is None:
            if (x is None) != (y is None):
                return float('inf')
            continue
        worst = max(worst, (x.double() - y.double()).abs().max().item() if x.numel() else 0.0)
    return worst
