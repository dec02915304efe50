"""2D normalisation (lib/data/normalise.py): the mean head-root length and the root, and the
dataset constants of MPI-INF-3DHP and SURREAL."""
import numpy as np
import pytest
import torch

import layout_fixtures as lf
from helpers import cfg_for
from lib.data import skeleton as sk
from lib.data.batches import TensorSplit
from lib.data.dataset import load_splits
from lib.data.normalise import normalise_2d


# --- data ------------------------------------------------------------------------

def test_normalise_2d_mean_head_root_and_root():
    rng = np.random.RandomState(3)
    px = rng.uniform(100, 900, size=(50, 17, 2))
    x, k = normalise_2d(px)
    d = np.linalg.norm(x[:, sk.HEAD] - x[:, sk.ROOT], axis=-1)
    assert d.mean() == pytest.approx(0.1, rel=1e-3)
    assert np.allclose(x[:, sk.ROOT], 1e-5 * k, rtol=1e-4)
    x2, _ = normalise_2d(px + 37.0, factor=k)                  # translation does not matter
    assert np.allclose(x, x2, atol=1e-6)
    xf, _ = normalise_2d(px, same_norm=False)
    assert np.allclose(np.linalg.norm(xf[:, sk.HEAD] - xf[:, sk.ROOT], axis=-1), 0.1, atol=1e-3)


@pytest.mark.parametrize('dataset,centre,focal', [('mpi', (1024.0, 1024.0), 1024.0),
                                                  ('surreal', (160.0, 160.0), 160.0)])
def test_2d_normalisation_uses_the_dataset_constants(tmp_path, dataset, centre, focal):
    lf.write_dataset(str(tmp_path), dataset)
    split = load_splits(cfg_for(dataset), str(tmp_path), which=('test',))['test']
    data = TensorSplit.from_split(split, cfg_for(dataset), torch.device('cpu'), train=False)
    x = (split.pose_2d_px - np.array(centre)) / focal                # the original's loader, step by step
    x = x - x[:, 13:14]
    x[:, 13] = 1e-5
    x = x * (0.1 / np.linalg.norm(x[:, -1] - x[:, 13], axis=1).mean())
    np.testing.assert_allclose(data.pose_2d.numpy(), x, rtol=1e-5, atol=1e-9)
