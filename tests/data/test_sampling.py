"""The TMC neighbour and bone-partner samplers and the rotations (lib/data/sampling.py)."""
import numpy as np
import pytest
import torch

from helpers import cfg_for
from lib.config.defaults import get_default
from lib.data import sampling


def test_tmc_neighbour_rule():
    cfgd = get_default().DATA
    L_ = 12
    idx = torch.arange(L_)
    j = sampling.tmc_neighbour(idx, idx.clone(), torch.full((L_,), L_), torch.zeros(L_, dtype=torch.long), cfgd)
    expect = [i + 5 if i + 5 < L_ else i - 5 for i in range(L_)]
    assert j.tolist() == expect


def test_bone_partner_distribution():
    L_, m = 20, 5
    n = 40000
    idx = torch.full((n,), 7)
    g = torch.Generator().manual_seed(0)
    j = sampling.bone_partner(idx, torch.arange(L_).repeat(2)[:L_].expand(1, -1)[0], torch.full((L_,), L_),
                              torch.zeros(L_, dtype=torch.long), m, g)
    assert ((j - 7).abs() >= m).all() and (j >= 0).all() and (j < L_).all()
    valid = [k for k in range(L_) if abs(k - 7) >= m]
    counts = np.bincount(j.numpy(), minlength=L_)[valid]
    assert counts.min() > 0.85 * n / len(valid) and counts.max() < 1.15 * n / len(valid)


def test_tmc_neighbour_mpi_flat_index_and_surreal_interval():
    from lib.data.sampling import tmc_neighbour
    seqlen = torch.tensor([6] * 6 + [4] * 4)
    index_in_seq = torch.tensor(list(range(6)) + list(range(4)))
    seq_start = torch.tensor([0] * 6 + [6] * 4)
    idx = torch.arange(10)
    d = cfg_for('mpi').DATA
    # the original MPI loader: forward when flat index + 1 < seqlen, else flat index - 1
    flat = [(i + 1 if i + 1 < int(seqlen[i]) else i - 1) % 10 for i in range(10)]
    assert tmc_neighbour(idx, index_in_seq, seqlen, seq_start, d, None, interval_always=True, flat_index=True).tolist() == flat
    assert flat[6] == 5                                   # the second sequence's first frame: previous sequence
    within = [int(seq_start[i] + (index_in_seq[i] + 1 if index_in_seq[i] + 1 < seqlen[i] else index_in_seq[i] - 1))
              for i in range(10)]
    assert tmc_neighbour(idx, index_in_seq, seqlen, seq_start, d, None, interval_always=True, flat_index=False).tolist() == within
    # Human3.6M: 5 rows, clamped into the sequence's block of rows
    h = tmc_neighbour(idx, index_in_seq, seqlen, seq_start, cfg_for('h36m').DATA, None, seq_start + seqlen)
    assert h.tolist() == [5, 0, 0, 0, 0, 0, 6, 6, 6, 6]


def test_rotations_with_a_normal_elevation_column():
    """TRAIN.ELEV_SAMPLING: learned: the elevation column holds the standard normal quantiles of
    the same uniform draws (same order, about N(0, 1)); the other columns are unchanged."""
    a = sampling.fixed_rotations(20000, 2.4, 0.35)
    b = sampling.fixed_rotations(20000, 2.4, 0.35, normal_elev=True)
    assert np.array_equal(a[:, [0, 2]], b[:, [0, 2]])
    assert np.array_equal(np.argsort(a[:, 1], kind='stable'), np.argsort(b[:, 1], kind='stable'))
    assert abs(b[:, 1].mean()) < 0.03 and abs(b[:, 1].std() - 1) < 0.03
    z = b[:, 1][np.argsort(b[:, 1])]
    assert abs(z[int(0.8413 * len(z))] - 1.0) < 0.05                 # the normal's 84th percentile
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    u = sampling.online_rotations(5000, 2.4, 0.35, g1, 'cpu')
    n = sampling.online_rotations(5000, 2.4, 0.35, g2, 'cpu', normal_elev=True)
    assert torch.equal(u[:, [0, 2]], n[:, [0, 2]]) and torch.equal(u[:, 1].argsort(), n[:, 1].argsort())
    assert (n[:, 1] < 0).float().mean().item() == pytest.approx(0.5, abs=0.03)   # symmetric, unlike u
