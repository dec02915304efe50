"""BVH export (lib/inference/bvh_export.py): the round trip through our reader and bvhio."""
import os

import numpy as np
import pytest

from helpers import REPO, needs_bvhio
from lib.inference import bvh_export as bx
from lib.prep.bvh import parse_bvh
from lib.utils.safe_io import load_npz


# --- BVH -------------------------------------------------------------------------------------

def _mocap_poses():
    d = load_npz(os.path.join(REPO, 'datasets', 'quickstart', 'data_3d_quickstart.npz'))['positions_3d']
    s = sorted(d)[0]
    P = np.asarray(d[s][sorted(d[s])[0]])[:120:3].astype(np.float64)
    P = P @ np.diag([1.0, -1.0, -1.0])                  # any proper rotation will do
    return P / np.linalg.norm(P[:, 10] - P[:, 0], axis=-1).mean()


@needs_bvhio
@pytest.mark.parametrize('frames', [40, 1])
def test_bvh_round_trip_own_reader_and_bvhio(tmp_path, frames):
    import bvhio

    P = _mocap_poses()[:frames]
    P[:, :, 0] += np.random.RandomState(0).normal(0, 0.02, P[:, :, 0].shape)   # lifted poses are not rigid
    text = bx.bvh_text(P, fps=25)
    path = tmp_path / 'x.bvh'
    path.write_text(text)
    want = bx.to_bvh_axes(bx.normalised_positions(P))           # millimetres
    got = bx.read_back(parse_bvh(text, str(path)))
    assert got.shape == (frames, 17, 3) and np.abs(got - want).max() < 1.0
    lengths = np.linalg.norm(got[:, 1:] - got[:, bx.V3D_PARENTS[1:]], axis=-1)
    assert np.ptp(lengths, axis=0).max() < 1e-3                 # one fixed skeleton
    root = bvhio.readAsHierarchy(str(path))
    joints = {j.Name: j for j, _, _ in root.layout()}
    for f in range(frames):
        root.loadPose(f)
        other = np.array([list(joints[n].PositionWorld) for n in bx.BVH_NAMES])
        assert np.abs(other - want[f]).max() < 1.0
