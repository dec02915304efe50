"""tools/prepare_data.py layout (lib/prep/layouts.py): an archive's clips placed before a
camera, and the camera placement's bounded search."""
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import ENV, REPO, V3D_TO_OURS, cfg_for, v3d_pose
from lib.data.dataset import load_splits


def test_prepare_data_layout_converts_an_archive(tmp_path):
    """tools/prepare_data.py layout: the archive's clips, rigidly placed before a 2048x2048
    pinhole (f = 1500 px); 2D = that camera's projection of the 3D."""
    import synth
    world, _ = synth.write_npz(str(tmp_path / 'npz'))
    tool = os.path.join(REPO, 'tools', 'prepare_data.py')
    r = subprocess.run([sys.executable, tool, 'layout', '--src', tmp_path / 'npz' / 'data_3d_synth.npz',
                        '--dataset', 'mpi', '--out', tmp_path / 'h5'], capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr
    test = load_splits(cfg_for('mpi'), str(tmp_path / 'h5'), which=('test',))['test']
    assert sorted(set(test.extra['seqname'])) == ['S11/Posing', 'S11/Walking 1', 'S9/Posing', 'S9/Walking 1']
    X = world['S9']['Posing'][:, V3D_TO_OURS]
    Y = test.pose_3d[test.extra['seqname'] == 'S9/Posing']
    bones = lambda P: np.linalg.norm(P[:, 1:] - P[:, :1], axis=-1)
    np.testing.assert_allclose(bones(Y), bones(X), atol=1e-5)          # a rigid placement
    uv = test.pose_2d_px
    np.testing.assert_allclose(uv, test.pose_3d[..., :2] / test.pose_3d[..., 2:] * 1500 + 1024, atol=1e-2)


def test_the_hang_ends_at_once(tmp_path):
    """--distance -5 used to loop forever at 100 % CPU; the camera placement's loop is bounded."""
    from lib.prep.layouts import CAMERAS, world_to_view
    from lib.utils.errors import UserError
    X = np.repeat(v3d_pose()[None, :, [0, 1, 0]] / 1000.0, 3, 0)
    for d in (-5.0, 0.0, 1e300):
        with pytest.raises(UserError, match='distance'):
            world_to_view(X, CAMERAS['mpi'], d)
    with pytest.raises(UserError, match='does not fit'):        # too big for any distance: bounded tries
        world_to_view(X * 1e3, CAMERAS['mpi'], 4.5)
