"""Per-frame rotations and neighbour frames, drawn by vectorised indexing.

Everything here works on whole index tensors on the training device: no
per-sample Python code (the original did this in ``__getitem__``,
ORIGINAL_CODE.md 1.5 and 1.6).

* :func:`fixed_rotations`: one (theta, phi, psi) per training frame, drawn
  once with seed 2019: theta ~ U(-BOUND_AZIM, BOUND_AZIM), phi ~ U(+-BOUND_ELEV),
  psi ~ U(+-BOUND_ELEV / 2); the N rows are duplicated with theta + pi, the
  2N rows shuffled and the first N kept.  The exact NumPy call order of the
  original is not known, so the individual angles differ from it; their
  distribution is the same.
* :func:`tmc_neighbour`: the frame 5 (or ``FRAME_INTERVAL``, or a random
  ``EXP_TMC`` offset; MPI-INF-3DHP and SURREAL: ``FRAME_INTERVAL``) ahead, or
  behind near the end of the sequence.
* :func:`bone_partner`: a frame of the same sequence drawn uniformly among
  those at least ``MIN_DIFF_DIST`` away.  This is exactly the distribution of
  the original's rejection loop, drawn in one step; where no such frame
  exists (a sequence shorter than MIN_DIFF_DIST + 1) the original loops
  forever, and we take the farthest frame instead.
"""
import math

import numpy as np
import torch


def fixed_rotations(n, bound_azim, bound_elev, seed=2019):
    rng = np.random.RandomState(seed)
    theta = rng.uniform(-bound_azim, bound_azim, n)
    phi = rng.uniform(-bound_elev, bound_elev, n)
    psi = rng.uniform(-bound_elev / 2, bound_elev / 2, n)
    rows = np.stack([theta, phi, psi], 1)
    both = np.concatenate([rows, rows + np.array([math.pi, 0.0, 0.0])], 0)
    rng.shuffle(both)
    return both[:n].astype(np.float32)


def online_rotations(n, bound_azim, bound_elev, generator, device):
    """Fresh symmetric angles (the original's ONLINE_ROT drew only [0, bound]: bug 8.9)."""
    u = torch.rand(n, 3, generator=generator, device=device) * 2 - 1
    return u * torch.tensor([bound_azim, bound_elev, bound_elev / 2], device=device)


def tmc_neighbour(idx, index_in_seq, seqlen, seq_start, cfg_data, generator=None, interval_always=False,
                  flat_index=False):
    """Flat index of the TMC / temporal-D neighbour of each frame in ``idx``.

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
    j = torch.where(forward, i + off, i - off)
    j = torch.clamp(j, min=0)                     # sequences shorter than the offset
    j = torch.minimum(j, L - 1)
    return seq_start[idx] + j


def bone_partner(idx, index_in_seq, seqlen, seq_start, min_dist, generator=None):
    """Flat index of a frame of the same sequence at least ``min_dist`` away, uniformly."""
    i, L = index_in_seq[idx], seqlen[idx]
    n_left = torch.clamp(i - min_dist + 1, min=0)          # j in [0, i - m]
    n_right = torch.clamp(L - i - min_dist, min=0)         # j in [i + m, L - 1]
    count = n_left + n_right
    u = torch.rand(idx.shape, generator=generator, device=idx.device)
    r = torch.clamp((u * count).long(), max=torch.clamp(count - 1, min=0))
    j = torch.where(r < n_left, r, i + min_dist + (r - n_left))
    far = torch.where(i >= L - 1 - i, torch.zeros_like(i), L - 1)
    j = torch.where(count > 0, j, far)
    return seq_start[idx] + j
