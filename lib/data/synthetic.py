"""A synthetic Human3.6M-like data set of any size, built in memory (for the benchmarks).

Each sequence: the standing skeleton of ``lib.data.skeleton`` at a random size, turning about
the vertical and swinging its limbs, 4.5-6 m in front of a pinhole camera (f = 1145 px,
principal point (512, 515)), 50 frames per second.  Not a substitute for real motion: it
gives the training and evaluation code realistic shapes, ranges and sequence structure.
"""
import numpy as np

from lib.data import skeleton as sk
from lib.data.split import PoseSplit

FOCAL_PX, CENTRE_PX = 1145.0, np.array([512.0, 515.0])


def _swing():
    """Per-joint forward swing of the limbs (project order): legs and arms in opposite phase."""
    swing = np.zeros((17, 3))
    order = sk.V3D_TO_OURS.tolist()
    for k in (2, 3, 12, 13):
        swing[order.index(k), 2] = 0.25
    for k in (5, 6, 15, 16):
        swing[order.index(k), 2] = -0.25
    return swing


def synthetic_sequence(length, rng, index=0):
    """(3D camera coordinates in metres, 2D pixels) of one sequence of ``length`` frames."""
    tmpl, swing = sk.v3d_to_ours(sk.STANDING_POSE_V3D), _swing()
    t = np.arange(length) / 50.0
    phase = np.sin(2 * np.pi * 0.8 * t + rng.uniform(0, 6.3))[:, None, None]
    X = tmpl[None] * rng.uniform(0.85, 1.1) + phase * swing[None]
    yaw = rng.uniform(-3, 3) + 0.6 * t
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    X = np.stack([X[..., 0] * c + X[..., 2] * s, X[..., 1], -X[..., 0] * s + X[..., 2] * c], -1)
    X[..., 0] += 0.5 * np.sin(0.3 * t + index)[:, None]
    X[..., 1] += 0.2
    X[..., 2] += rng.uniform(4.5, 6.0) + 0.3 * np.cos(0.2 * t)[:, None]
    return X, X[..., :2] / X[..., 2:3] * FOCAL_PX + CENTRE_PX


def synthetic_split(n, n_seq, seed, name):
    """A PoseSplit of ``n`` poses in ``n_seq`` contiguous sequences over 4 cameras, built
    sequence by sequence so that the temporaries stay small next to the float64 arrays."""
    rng = np.random.RandomState(seed)
    n_seq = max(4, min(n_seq, n // 8))
    cut = np.sort(rng.choice(np.arange(1, n), n_seq - 1, replace=False))
    lens = np.diff(np.concatenate([[0], cut, [n]]))
    p3, p2 = np.empty((n, 17, 3)), np.empty((n, 17, 2))
    start = 0
    for s, length in enumerate(lens):
        p3[start:start + length], p2[start:start + length] = synthetic_sequence(length, rng, s)
        start += length
    seq = np.repeat(np.arange(n_seq), lens)
    split = PoseSplit(p2, p3, np.array(['S%d' % (1 + s // 120) for s in range(n_seq)])[seq],
                      np.array(['Action%d %d' % (s // 8 % 15, s // 4 % 2 + 1) for s in range(n_seq)])[seq],
                      (seq % 4).astype(np.int64), np.concatenate([np.arange(L) for L in lens]),
                      source='synthetic %s' % name)
    return split.finish()
