"""The H36M camera table and projection (lib/data/camera.py).  Tests that need the real
Human3.6M fixture skip without ``../shared``."""
import os

import numpy as np
import pytest

from helpers import REPO
from lib.data.camera import (CAMERA_IDS, H36M_CAMERAS, SUBJECTS, camera_to_world, get_cameras, in_view,
                             optical_axes_meeting_point, project_to_2d, project_to_2d_linear, world_to_camera)
from lib.utils.errors import UserError


FIXTURE = os.path.join(REPO, '..', 'shared', 'data', 'h36m_fixture')


def _need_fixture(name):
    path = os.path.join(FIXTURE, name)
    if not os.path.isfile(path):
        pytest.skip('real H36M fixture not available: %s is absent (needs <repo>/../shared)' % path)
    return path


def _hand_camera(**kw):
    cam = {'id': 'hand', 'R': np.eye(3), 'T': np.zeros(3), 'f': np.array([1000.0, 1000.0]),
           'c': np.array([500.0, 500.0]), 'k': np.zeros(3), 'p': np.zeros(2), 'w': 1000, 'h': 1000}
    cam.update(kw)
    return cam


# --- no external data needed --------------------------------------------------

def test_hand_made_projection():
    X = np.array([0.1, -0.2, 2.0])
    cam = _hand_camera()
    np.testing.assert_allclose(project_to_2d_linear(X, cam), [550.0, 400.0])
    np.testing.assert_allclose(project_to_2d(X, cam), [550.0, 400.0])
    # radial only: x = 0.05, y = -0.1, r2 = 0.0125, radial = 1 + 0.1 * 0.0125
    cam = _hand_camera(k=np.array([0.1, 0.0, 0.0]))
    np.testing.assert_allclose(project_to_2d(X, cam), [550.0625, 399.875], atol=1e-9)
    # + tangential p = (p1, p2) = (0.03, -0.02): tan = p1 y + p2 x = -0.003 - 0.001 = -0.004,
    # x_d = x (radial + tan) + p2 r2 = 0.05 * 0.99725 - 0.00025 = 0.0496125,
    # y_d = y (radial + tan) + p1 r2 = -0.1 * 0.99725 + 0.000375 = -0.09935
    cam = _hand_camera(k=np.array([0.1, 0.0, 0.0]), p=np.array([0.03, -0.02]))
    np.testing.assert_allclose(project_to_2d(X, cam), [549.6125, 400.65], atol=1e-9)
    # without the tan term: (549.8125, 400.25); with (p1, p2) swapped: (550.6125, 399.275)


def test_projection_broadcasts_leading_dims():
    cam = get_cameras('S1')[0]
    X = np.random.default_rng(0).normal([0, 0, 4], 0.5, size=(5, 7, 17, 3))
    uv = project_to_2d(X, cam)
    assert uv.shape == (5, 7, 17, 2)
    np.testing.assert_allclose(uv[2, 3], project_to_2d(X[2, 3], cam))
    assert in_view(X, cam).shape == (5, 7, 17)


def test_in_view():
    cam = _hand_camera(k=np.array([-0.2, 0.25, -0.003]))
    pts = np.array([[0.0, 0.0, 3.0],      # on the axis
                    [0.0, 0.0, -3.0],     # behind
                    [5.0, 0.0, 1.0],      # far off-axis: would fold back without the max_tan guard
                    [1.2, 0.0, 2.0]])     # right of the image (u = 1076 px)
    assert in_view(pts, cam).tolist() == [True, False, False, False]


def test_table_shape_and_rotations():
    assert sorted(H36M_CAMERAS, key=lambda s: int(s[1:])) == SUBJECTS
    for s, cams in H36M_CAMERAS.items():
        assert [c['id'] for c in cams] == CAMERA_IDS
        for c in cams:
            assert c['R'].shape == (3, 3) and c['T'].shape == (3,)
            np.testing.assert_allclose(c['R'] @ c['R'].T, np.eye(3), atol=1e-7)
            assert abs(np.linalg.det(c['R']) - 1) < 1e-7
            assert c['f'].shape == (2,) and c['c'].shape == (2,) and c['k'].shape == (3,) and c['p'].shape == (2,)
        # the four optical axes meet near (0, 0.4, 0.4) m (data README)
        m = optical_axes_meeting_point(cams)
        assert np.linalg.norm(m - [0, 0.4, 0.4]) < 0.3, (s, m)


def test_get_cameras_copies_and_errors():
    cams = get_cameras('S9')
    cams[0]['T'][0] = 123.0
    assert H36M_CAMERAS['S9'][0]['T'][0] != 123.0
    with pytest.raises(UserError) as e:
        get_cameras('S12')
    assert 'S12' in str(e.value) and str(e.value).startswith('error:')


def test_world_camera_round_trip_and_axes():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(10, 17, 3))
    for cam in get_cameras('S5'):
        Xc = world_to_camera(X, cam['R'], cam['T'])
        # the table's R is orthonormal to ~1e-9 (9 significant digits)
        np.testing.assert_allclose(camera_to_world(Xc, cam['R'], cam['T']), X, atol=1e-7)
        # the camera centre is the camera-frame origin; a point on the optical axis hits the principal point
        np.testing.assert_allclose(world_to_camera(cam['T'], cam['R'], cam['T']), 0, atol=1e-12)
        on_axis = cam['T'] + 3.0 * cam['R'][:, 2]
        np.testing.assert_allclose(project_to_2d(world_to_camera(on_axis, cam['R'], cam['T']), cam), cam['c'],
                                   atol=1e-9)


# --- real Human3.6M fixture ---------------------------------------------------

def _fixture_views():
    from lib.utils.safe_io import load_npz
    f = load_npz(_need_fixture('test_h36m_body3d.npz'))
    for i, name in enumerate(f['imgname']):
        # 'S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg'
        subject = name.split('/')[0]
        cam_id = name.split('/')[1].rsplit('.', 1)[1]
        yield name, get_cameras(subject)[CAMERA_IDS.index(cam_id)], f['S'][i, :, :3], f['part'][i, :, :2]


def test_fixture_projection_matches_labels():
    errs, errs_lin = [], []
    for name, cam, X, uv in _fixture_views():
        errs.append(np.linalg.norm(project_to_2d(X, cam) - uv, axis=-1).max())
        errs_lin.append(np.linalg.norm(project_to_2d_linear(X, cam) - uv, axis=-1).max())
    assert len(errs) == 4
    assert max(errs) < 1e-3, errs         # measured: < 4e-5 px; without the tangential term 0.2-0.4 px
    assert min(errs_lin) > 0.5            # distortion matters: 1.2-3.4 px without it


def test_fixture_world_frame_is_z_up_on_floor():
    for name, cam, X, uv in _fixture_views():
        W = camera_to_world(X, cam['R'], cam['T'])
        np.testing.assert_allclose(world_to_camera(W, cam['R'], cam['T']), X, atol=1e-7)
        assert -0.05 < W[:, 2].min() < 0.2, (name, W[:, 2].min())       # feet (or seat) near the floor
        assert 1.3 < W[10, 2] < 1.9 or 'Sitting' in name                  # head top of a standing person


def test_table_matches_fixture_pickle():
    from lib.utils.safe_io import safe_pickle_load
    d = safe_pickle_load(_need_fixture('cameras.pkl'))
    assert len(d) == 44
    for (s, cid), v in d.items():
        cam = H36M_CAMERAS[s][CAMERA_IDS.index(cid)]
        np.testing.assert_allclose(cam['R'], v['R'], atol=1e-8)
        for key in ('T', 'f', 'c', 'k', 'p'):
            np.testing.assert_allclose(cam[key], np.ravel(v[key]), rtol=1e-8, atol=1e-11)
        assert (cam['w'], cam['h']) == (v['w'], v['h'])
