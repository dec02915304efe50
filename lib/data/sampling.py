"""Per-frame rotations and neighbour frames, drawn by vectorised indexing.

Everything here works on whole index tensors on the training device: no
per-sample Python code (the original did this in ``__getitem__``; what it
draws: docs/ORIGINAL.md, "Data").

* :func:`fixed_rotations`: one (theta, phi, psi) per training frame, drawn
  once with NumPy's global seed 2019 in the original's order: theta
  ``(2u - 1) BOUND_AZIM`` for all N frames, then phi with BOUND_ELEV, then psi
  with BOUND_ELEV / 2; the N rows are duplicated with theta + pi, the 2N rows
  shuffled and the first N kept.  The same numbers as the original.
* :func:`tmc_neighbour`: the row 5 (or ``FRAME_INTERVAL``, or a random
  ``EXP_TMC`` offset; MPI-INF-3DHP and SURREAL: ``FRAME_INTERVAL``) ahead, or
  behind near the end of the sequence.
* :func:`bone_partner`: a row offset drawn uniformly among those at least
  ``MIN_DIFF_DIST`` away and inside [-i, L - 1 - i].  This is exactly the
  distribution of the original's rejection loop, drawn in one step; where no
  such offset exists (a sequence shorter than MIN_DIFF_DIST + 1) the original
  loops forever, and we take the farthest frame instead.

Both rules are the original's: the position i and length L are the file's
(``index_in_seq``, ``seqlen``), and the neighbour is a *row* offset from the
frame.  Where a row would leave the frame's block of rows (possible only when
the stored frame numbers are not 0..L-1, or for a sequence shorter than the
offset), it is clamped into the block: the original would read another
sequence's frame there, or fail at the end of the file.
"""
import math

import numpy as np
import torch


def normal_quantile(u):
    """The standard normal's quantile of uniform draws ``u`` in [0, 1) (a NumPy array or a
    tensor), kept within +-5.3 (u is clipped to [1e-7, 1 - 1e-7])."""
    t = torch.as_tensor(u, dtype=torch.float64).clamp(1e-7, 1 - 1e-7)
    z = math.sqrt(2) * torch.special.erfinv(2 * t - 1)
    return z if torch.is_tensor(u) else z.numpy()


def fixed_rotations(n, bound_azim, bound_elev, seed=2019, normal_elev=False):
    """``normal_elev`` (``TRAIN.ELEV_SAMPLING: learned``): the second column holds standard normal
    draws (the normal quantiles of the same uniform numbers), which the training step maps to
    elevations of the learned distribution (lib/train/elevation.py); the other columns are as
    without it."""
    rng = np.random.RandomState(seed)
    theta = (2 * rng.random_sample((n, 1)) - 1) * bound_azim
    u = rng.random_sample((n, 1))
    phi = normal_quantile(u) if normal_elev else (2 * u - 1) * bound_elev
    psi = (2 * rng.random_sample((n, 1)) - 1) * (bound_elev / 2)
    rows = np.concatenate([theta, phi, psi], 1)
    flipped = rows.copy()
    flipped[:, 0] = flipped[:, 0] + math.pi
    both = np.concatenate([rows, flipped], 0)
    rng.shuffle(both)
    return both[:n].astype(np.float32)


def online_rotations(n, bound_azim, bound_elev, generator, device, nonnegative=True, normal_elev=False):
    """Fresh angles per sample: in [0, bound) as the original (``nonnegative``), or symmetric.
    ``normal_elev``: the second column is a standard normal draw instead (as in
    :func:`fixed_rotations`; symmetric whatever ``nonnegative`` says)."""
    u = torch.rand(n, 3, generator=generator, device=device)
    z = normal_quantile(u[:, 1]).to(u.dtype) if normal_elev else None
    if not nonnegative:
        u = u * 2 - 1
    rot = u * torch.tensor([bound_azim, bound_elev, bound_elev / 2], device=device)
    if normal_elev:
        rot[:, 1] = z
    return rot


def _in_block(row, idx, seq_start, block_end):
    if seq_start is None or block_end is None:
        return row
    return torch.minimum(torch.maximum(row, seq_start[idx]), block_end[idx] - 1)


def tmc_neighbour(idx, index_in_seq, seqlen, seq_start, cfg_data, generator=None, block_end=None,
                  interval_always=False, flat_index=False):
    """Row of the TMC / temporal-D neighbour of each frame in ``idx``.

    ``interval_always`` (MPI-INF-3DHP, SURREAL): the offset is ``FRAME_INTERVAL`` even
    when it is 1, and ``EXP_TMC`` is not read.  ``flat_index`` (with it; the MPI reader's
    ``COMPAT.MPI_TMC_FLAT_INDEX``): the forward/backward test compares the *flat* index
    with the sequence length, so past the first sequence the neighbour is always the frame
    ``FRAME_INTERVAL`` rows back, which for a sequence's first frames is in the previous
    sequence (and wraps to the end of the split before row 0).
    """
    i, L = index_in_seq[idx], seqlen[idx]
    if interval_always:
        k = cfg_data.FRAME_INTERVAL
        if flat_index:
            j = torch.where(idx + k < L, idx + k, idx - k)
            return torch.remainder(j, index_in_seq.shape[0])
        off = torch.full_like(idx, k)
        forward = i + k < L
    elif cfg_data.EXP_TMC:
        start, interval = cfg_data.EXP_TMC_START, cfg_data.EXP_TMC_INTERVAL
        if cfg_data.EXP_TMC_DETERMINISTIC:
            off = torch.full_like(idx, interval)
        else:
            off = torch.randint(start, start + interval, idx.shape, generator=generator,
                                device=idx.device)
        forward = i + start + interval < L
    else:
        k = cfg_data.FRAME_INTERVAL if cfg_data.FRAME_INTERVAL > 1 else 5
        off = torch.full_like(idx, k)
        forward = i + k < L
    row = idx + torch.where(forward, off, -off)
    return _in_block(row.clamp(0, len(index_in_seq) - 1), idx, seq_start, block_end)


def bone_partner(idx, index_in_seq, seqlen, seq_start, min_dist, generator=None, block_end=None):
    """Row of a frame of the same sequence at least ``min_dist`` away, uniformly."""
    i, L = index_in_seq[idx], seqlen[idx]
    n_left = torch.clamp(i - min_dist + 1, min=0)          # offsets -i .. -min_dist
    n_right = torch.clamp(L - i - min_dist, min=0)         # offsets min_dist .. L - 1 - i
    count = n_left + n_right
    u = torch.rand(idx.shape, generator=generator, device=idx.device)
    r = torch.clamp((u * count).long(), max=torch.clamp(count - 1, min=0))
    d = torch.where(r < n_left, r - i, min_dist + (r - n_left))
    far = torch.where(i >= L - 1 - i, -i, L - 1 - i)
    d = torch.where(count > 0, d, far)
    return _in_block((idx + d).clamp(0, len(index_in_seq) - 1), idx, seq_start, block_end)
