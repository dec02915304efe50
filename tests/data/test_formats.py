"""The readers of the authors' MPI-INF-3DHP and SURREAL h5 layouts (lib/data/formats.py,
dataset.py).

The fixtures (``layout_fixtures.py``) are written in the authors' h5 layouts from the shared
BVH motion capture when ``../shared`` is there, and from a synthetic walking skeleton
otherwise.  The numbers the readers must give are computed here again, from the authors'
definitions (their ``mpi2h36m`` list), not through the project's code."""
import h5py
import numpy as np
import pytest

import layout_fixtures as lf
from helpers import HAVE_BVH, MPI2H36M, cfg_for, edit_h5, set_nan
from lib.data.dataset import load_splits


SOURCES = ['synthetic', pytest.param('bvh', marks=pytest.mark.skipif(
    not HAVE_BVH, reason='../shared/data/mocap_bvh not found (the synthetic fixture still runs)'))]


# --- readers --------------------------------------------------------------------------

@pytest.mark.parametrize('source', SOURCES)
def test_mpi_reader_order_units_and_sequences(tmp_path, source):
    lf.write_dataset(str(tmp_path), 'mpi', source)
    test = load_splits(cfg_for('mpi'), str(tmp_path), which=('test',))['test']
    with h5py.File(str(tmp_path / 'mpi_valid_pred3.h5'), 'r') as f:
        p2 = np.array(f['joint_2d_gt'])[:, MPI2H36M, :2]
        p3 = np.array(f['joint_3d_gt'])[:, MPI2H36M, :3] / 1000.0
        names = [n.decode() for n in f['imagename'][:]]
    np.testing.assert_allclose(test.pose_2d_px, p2)
    np.testing.assert_allclose(test.pose_3d, p3)
    assert 2048 * 0.1 < np.ptp(p2[..., 1]) < 2048          # a person in a 2048x2048 frame, in pixels
    assert 1.2 < np.ptp(test.pose_3d[0, :, 1]) < 2.1          # ... about 1.6 m tall: mm were read as mm
    seq = np.array(['/'.join(n.split('/')[:-1]) for n in names])
    assert list(test.extra['seqname']) == list(seq)
    lens = {s: int((seq == s).sum()) for s in set(seq)}
    assert [int(x) for x in test.seqlen] == [lens[s] for s in seq]
    assert test.index_in_seq[0] == 0 and test.index_in_seq[lens[seq[0]]] == 0


@pytest.mark.parametrize('source', SOURCES)
def test_surreal_reader_reads_original_joint_2d_gt_unreordered(tmp_path, source):
    lf.write_dataset(str(tmp_path), 'surreal', source)
    with h5py.File(str(tmp_path / 'surreal_valid_pred3.h5'), 'a') as f:   # make the two 2D keys differ
        f['joint_2d_gt'][...] = 0
        p2 = np.array(f['original_joint_2d_gt'])[..., :2]
        p3 = np.array(f['joint_3d_gt'])
    test = load_splits(cfg_for('surreal'), str(tmp_path), which=('test',))['test']
    np.testing.assert_allclose(test.pose_2d_px, p2)
    np.testing.assert_allclose(test.pose_3d, p3)
    assert np.all((p2[..., 0] >= 0) & (p2[..., 0] <= 320) & (p2[..., 1] >= 0) & (p2[..., 1] <= 240))


def test_nan_frames_are_dropped_with_their_rows(tmp_path):
    edit_h5('mpi', set_nan)(tmp_path)
    test = load_splits(cfg_for('mpi'), str(tmp_path / 'data'), which=('test',))['test']
    assert test.num_dropped == 1 and 3 not in test.extra['row'] and len(test.extra['imagename']) == len(test)
