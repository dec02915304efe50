"""Data: the H36M camera table and projection (lib/data/camera.py), 2D normalisation, joint
orders, the TMC neighbour and bone-partner samplers, the readers of the authors' Human3.6M,
MPI-INF-3DHP and SURREAL layouts, LSP ``joints.mat`` and the demo input files.

The MPI-INF-3DHP and SURREAL fixtures (``layout_fixtures.py``) are written in the authors' h5
layouts from the shared BVH motion capture when ``../shared`` is there, and from a synthetic
walking skeleton otherwise.  The numbers the readers must give are computed here again, from
the authors' definitions (their ``mpi2h36m`` list, their normalisation constants), not through
the project's code.  Tests that need the real Human3.6M fixture skip without ``../shared``.
"""
import json
import os
import pickle
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

import layout_fixtures as lf
import synth
from conftest import REPO
from helpers import (ENV, H, HAVE_BVH, MPI2H36M, STANDING, V3D_TO_OURS, W, Evil, cfg_for, edit_h5, set_nan, v3d_pose,
                     write_lsp)
from lib.config.defaults import get_default
from lib.data import sampling
from lib.data import skeleton as sk
from lib.data.batches import TensorSplit
from lib.data.camera import (CAMERA_IDS, H36M_CAMERAS, SUBJECTS, camera_to_world, get_cameras, in_view,
                             optical_axes_meeting_point, project_to_2d, project_to_2d_linear, world_to_camera)
from lib.data.dataset import load_splits
from lib.data.normalise import normalise_2d, normalise_lsp
from lib.inference.outputs import output_stems
from lib.inference.keypoints import read_input
from lib.inference.lsp import NECK_FILL_T, detect_layout, fill_missing, load_lsp, lsp14_to_ours17, missing_joints
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


# the original code's order: LSP's 14 joints (right leg, left leg, right arm, left arm from the
# extremity in), then the thorax, the pelvis (root), the spine, the neck/nose and the head top
OURS_BY_HAND = ['RAnkle', 'RKnee', 'RHip', 'LHip', 'LKnee', 'LAnkle', 'RWrist', 'RElbow', 'RShoulder',
                'LShoulder', 'LElbow', 'LWrist', 'Thorax', 'Hip', 'Spine', 'Neck/Nose', 'Head']


def test_joint_order_roundtrip_and_names():
    assert sk.OURS_NAMES[sk.ROOT] == 'Hip' and sk.OURS_NAMES[sk.HEAD] == 'Head'
    a = np.arange(17 * 2).reshape(17, 2)
    assert (sk.ours_to_v3d(sk.v3d_to_ours(a)) == a).all()
    assert sk.OURS_NAMES == OURS_BY_HAND
    # each v3d joint lands where its name says (v3d order: the VideoPose3D list)
    v3d = np.array([[sk.V3D_NAMES.index(n), 0] for n in sk.V3D_NAMES])
    assert [sk.V3D_NAMES[i] for i in sk.v3d_to_ours(v3d)[:, 0]] == OURS_BY_HAND
    # geometry: the synthetic standing skeleton (v3d order, x = the subject's left, z up)
    P = sk.v3d_to_ours(synth.TEMPLATE)
    name = {n: P[i] for i, n in enumerate(OURS_BY_HAND)}
    assert all(name['L' + j][0] > 0 > name['R' + j][0] for j in ('Ankle', 'Knee', 'Hip', 'Wrist', 'Elbow', 'Shoulder'))
    assert name['Head'][2] == P[:, 2].max() and name['RAnkle'][2] == name['LAnkle'][2] == P[:, 2].min()
    assert np.allclose(P[sk.ROOT], [0, 0, 0.92])


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


def test_nan_frames_are_dropped_with_their_rows(tmp_path):
    edit_h5('mpi', set_nan)(tmp_path)
    test = load_splits(cfg_for('mpi'), str(tmp_path / 'data'), which=('test',))['test']
    assert test.num_dropped == 1 and 3 not in test.extra['row'] and len(test.extra['imagename']) == len(test)


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


# --- 14 -> 17, layouts, missing joints --------------------------------------------

def test_lsp14_to_ours17_mapping():
    j = np.arange(28, dtype=np.float64).reshape(14, 2) * np.array([1.0, 10.0])
    o = lsp14_to_ours17(j)
    assert o.shape == (17, 2)
    np.testing.assert_array_equal(o[:12], j[:12])
    thorax, pelvis = (j[8] + j[9]) / 2, (j[2] + j[3]) / 2
    np.testing.assert_allclose(o[12], thorax)
    np.testing.assert_allclose(o[13], pelvis)
    np.testing.assert_allclose(o[14], (thorax + pelvis) / 2)
    np.testing.assert_array_equal(o[15], j[12])          # LSP neck
    np.testing.assert_array_equal(o[16], j[13])          # LSP head top
    assert sk.ROOT == 13 and sk.HEAD == 16
    # batched input keeps its leading axes
    assert lsp14_to_ours17(np.stack([j, j + 1])).shape == (2, 17, 2)


@pytest.mark.parametrize('n', [3, 14])
def test_joints_mat_both_layouts(tmp_path, n):
    """(3, 14, N) and (14, 3, N) give the same poses, also when N is 3 or 14."""
    rng = np.random.RandomState(n)
    poses = STANDING[None] + rng.uniform(-3, 3, (n, 14, 2))
    orig_flags = np.zeros((n, 14))
    orig_flags[:, 0] = 1                  # original release: 1 = occluded, still a real point
    ext_flags = np.ones((n, 14))          # extended: 1 = annotated
    write_lsp(str(tmp_path / 'lsp'), poses, orig_flags, 'lsp')
    write_lsp(str(tmp_path / 'lspet'), poses, ext_flags, 'lspet')
    a = load_lsp(str(tmp_path / 'lsp'))
    b = load_lsp(str(tmp_path / 'lspet'))
    assert (a.layout, b.layout) == ('lsp', 'lspet')
    assert [im.name for im in a.images][:2] == ['im0001.jpg', 'im0002.jpg']
    assert [im.name for im in b.images][:2] == ['im00001.jpg', 'im00002.jpg']
    assert a.count('ok') == b.count('ok') == n
    for ia, ib, p in zip(a.images, b.images, poses):
        np.testing.assert_allclose(ia.px_ours, lsp14_to_ours17(p))
        np.testing.assert_allclose(ib.px_ours, lsp14_to_ours17(p))
        assert not ia.missing.any() and not ib.missing.any()
        assert ia.size == (W, H)
    np.testing.assert_allclose(a.x_norm, b.x_norm)
    # the normalised input: root 1e-5 * factor, mean head-root 0.1, x and y scaled alike
    x = a.x_norm
    assert np.allclose(x[:, sk.ROOT], 1e-5 * a.factor, atol=1e-7)
    assert abs(np.linalg.norm(x[:, sk.HEAD] - x[:, sk.ROOT], axis=-1).mean() - 0.1) < 1e-5
    px = lsp14_to_ours17(poses)
    rel = (px - px[:, sk.ROOT:sk.ROOT + 1])[:, [0, 16]]
    c = np.linalg.norm(x[:, [0, 16]]) / np.linalg.norm(rel)       # one factor for x and y
    np.testing.assert_allclose(x[:, [0, 16]], c * rel, atol=1e-6)


def test_layout_detection_edge_cases():
    one = np.ones((14, 3))                       # MATLAB drops a trailing singleton axis
    j, layout = detect_layout(one)
    assert j.shape == (1, 14, 3) and layout == 'lspet'
    j, layout = detect_layout(np.ones((3, 14)))
    assert j.shape == (1, 14, 3) and layout == 'lsp'
    for bad in (np.ones((2000, 14, 3)), np.ones((5, 14, 3)), np.ones(14)):
        with pytest.raises(UserError, match='expected'):
            detect_layout(bad)


def test_anisotropic_option_stretches_x():
    px = lsp14_to_ours17(STANDING)[None]
    iso, _ = normalise_lsp(px, anisotropic=False)
    ani, _ = normalise_lsp(px, anisotropic=True)
    w_iso = np.ptp(iso[0, :, 0]) / np.ptp(iso[0, :, 1])
    w_ani = np.ptp(ani[0, :, 0]) / np.ptp(ani[0, :, 1])
    assert w_ani / w_iso == pytest.approx(90.0 / 55.0, rel=1e-4)


def test_missing_joints_are_filled_not_lifted():
    j = np.concatenate([STANDING, np.ones((14, 1))], 1)
    j[6] = [0.0, -26.0, 0.0]          # R wrist: not annotated, garbage coordinates
    j[1, 2] = 0                       # R knee: not annotated (its ankle is)
    j[1, :2] = [-40.0, 0.0]
    j[12] = [0.0, -59.0, 0.0]         # neck: not annotated
    miss = missing_joints(j, 'lspet', (W, H))
    assert miss.tolist() == [k in (1, 6, 12) for k in range(14)]
    xy = fill_missing(j[:, :2], miss)
    np.testing.assert_allclose(xy[6], xy[7])                              # wrist -> its elbow
    np.testing.assert_allclose(xy[1], (STANDING[2] + STANDING[0]) / 2)    # knee -> mid hip/ankle
    thorax = (STANDING[8] + STANDING[9]) / 2
    np.testing.assert_allclose(xy[12], thorax + NECK_FILL_T * (STANDING[13] - thorax))
    assert np.all(xy >= 0) and np.all(xy[:, 0] < W) and np.all(xy[:, 1] < H)
    # an annotated joint far outside the image is missing too; one just past the border is not
    j2 = np.concatenate([STANDING, np.ones((14, 1))], 1)
    j2[11, :2] = [W + 100, 50]
    j2[13, :2] = [80, -1.2]
    assert missing_joints(j2, 'lspet', (W, H)).tolist() == [k == 11 for k in range(14)]
    # in the original layout the flag is an occlusion flag: not missing
    j3 = np.concatenate([STANDING, np.ones((14, 1))], 1)
    assert not missing_joints(j3, 'lsp', (W, H)).any()
    # a required joint missing: the image is skipped, with the joint named
    with pytest.raises(ValueError, match='L hip'):
        fill_missing(STANDING, np.arange(14) == 3)


def test_load_lsp_skips_fails_and_flags(tmp_path):
    poses = np.stack([STANDING] * 4)
    flags = np.ones((4, 14))
    poses[0, 0] = [0, -26]
    flags[0, 0] = 0                   # image 1: R ankle missing -> filled, flagged
    flags[1, 3] = 0                   # image 2: L hip missing -> skipped
    write_lsp(str(tmp_path), poses, flags, 'lspet')
    os.remove(tmp_path / 'images' / 'im00003.jpg')                      # image 3: failed
    (tmp_path / 'images' / 'im00004.jpg').write_bytes(b'not a jpeg')   # image 4: failed
    d = load_lsp(str(tmp_path))
    assert [im.status for im in d.images] == ['ok', 'skipped', 'failed', 'failed']
    assert 'L hip' in d.images[1].reason
    assert 'not found' in d.images[2].reason and 'unreadable' in d.images[3].reason
    im = d.images[0]
    assert im.missing.tolist() == [k == 0 for k in range(17)]
    np.testing.assert_allclose(im.px_ours[0], im.px_ours[1])        # ankle collapsed onto the knee
    assert np.isfinite(d.x_norm).all() and d.x_norm.shape == (1, 17, 2)


def test_malicious_pickle_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pkl'
    evil.write_bytes(pickle.dumps({'joints_2d': Evil(marker)}, protocol=2))
    assert not marker.exists()
    with pytest.raises(UserError, match='refus'):
        read_input(str(evil))
    assert not marker.exists()


def test_demo_readers(tmp_path):
    pose = v3d_pose()
    np.save(tmp_path / 'a.npy', pose)
    np.savez(tmp_path / 'b.npz', keypoints=np.stack([pose] * 3))
    np.savez(tmp_path / 'c.npz', whatever=pose)
    (tmp_path / 'd.json').write_text(json.dumps({'keypoints': pose.tolist()}))
    (tmp_path / 'e.json').write_text(json.dumps([pose.tolist()] * 2))
    for name, seq, T in (('a.npy', False, 1), ('b.npz', True, 3), ('c.npz', False, 1),
                         ('d.json', False, 1), ('e.json', True, 2)):
        inp = read_input(str(tmp_path / name))
        assert inp.sequence == seq and inp.px_ours.shape == (T, 17, 2)
        np.testing.assert_allclose(inp.px_ours[0], sk.v3d_to_ours(pose))      # reordered to ours
    # a joint count that fits no order names the orders; (T, 17, 3) is now a confidence column
    bad = {'f.npy': (np.ones((16, 2)), 'joints per pose'), 'g.npy': (np.ones((2, 17, 4)), 'shape')}
    for name, (arr, msg) in bad.items():
        np.save(tmp_path / name, arr)
        with pytest.raises(UserError, match=msg):
            read_input(str(tmp_path / name))
    nan = pose.copy()
    nan[4, 0] = np.nan
    np.save(tmp_path / 'h.npy', nan)
    with pytest.raises(UserError, match='NaN'):
        read_input(str(tmp_path / 'h.npy'))
    (tmp_path / 'i.csv').write_text('1,2\n')
    with pytest.raises(UserError, match='unknown input type'):
        read_input(str(tmp_path / 'i.csv'))
    (tmp_path / 'j.json').write_text('{"keypoints": [1, 2')
    with pytest.raises(UserError, match='malformed JSON'):
        read_input(str(tmp_path / 'j.json'))
    assert output_stems(['x/a.npy', 'x/a.json', 'x/b.pkl']) == ['a_npy', 'a_json', 'b']


def test_action_group_runs():
    from lib.data.dataset import PoseSplit
    acts = np.array(['Directions 1', 'Directions 1', 'Walking_2', 'Directions', 'Sitting Down 2', 'Directions 1'])
    s = PoseSplit(np.zeros((6, 17, 2)), np.zeros((6, 17, 3)), np.array(['S9'] * 6), acts, np.zeros(6, int),
                  np.arange(6))
    assert s.action_group.tolist() == ['Directions', 'Directions', 'Walking', 'Directions', 'Sitting Down',
                                       'Directions']


# --- splits: both file formats, one 2D factor per split, the fixed rotations ----------------

def _synth_splits(tiny_data, fmt):
    from lib.config.load import update_config
    cfg_path, tmp = tiny_data
    cfg = update_config(get_default(), str(cfg_path))
    cfg.DATA.FORMAT = fmt
    return cfg, load_splits(cfg, str(tmp / 'data'))


def test_h5_and_npz_readers_give_the_same_splits(tiny_data):
    """synth.py writes one motion in both layouts (VideoPose3D npz archives, the authors' h5
    files): the two readers give the same frames, labels and sequence bookkeeping (the files
    list the actions in another order; the h5 3D was stored in float32)."""
    splits = {fmt: _synth_splits(tiny_data, fmt)[1] for fmt in ('npz', 'h5')}
    for name in ('train', 'test'):
        a, b = splits['npz'][name], splits['h5'][name]
        assert len(a) == len(b) == 1976
        oa, ob = (np.lexsort((s.frame, s.camera, s.action, s.subject)) for s in (a, b))
        for key in ('subject', 'action', 'camera', 'frame', 'index_in_seq', 'seqlen'):
            assert np.array_equal(getattr(a, key)[oa], getattr(b, key)[ob]), (name, key)
        assert np.array_equal((a.block_end - a.seq_start)[oa], (b.block_end - b.seq_start)[ob])
        np.testing.assert_array_equal(a.pose_2d_px[oa], b.pose_2d_px[ob])
        np.testing.assert_allclose(a.pose_3d[oa], b.pose_3d[ob], rtol=0, atol=1e-6)
        assert sorted(set(a.subject)) == (['S1', 'S5'] if name == 'train' else ['S11', 'S9'])


def test_each_split_is_normalised_with_its_own_2d_factor(tiny_data):
    """One factor k per split: each split's 2D has a mean head-root distance of 0.1, and the
    test split's numbers are its own pixels normalised by hand, (p - (514.0435, 506.7003)) / 500,
    root subtracted and set to 1e-5, times its own k (the subjects differ in size, so the
    training split's k would not do)."""
    cfg, splits = _synth_splits(tiny_data, 'npz')
    train = TensorSplit.from_split(splits['train'], cfg, torch.device('cpu'), train=True)
    test = TensorSplit.from_split(splits['test'], cfg, torch.device('cpu'), train=False)
    for s in (train, test):
        d = np.linalg.norm((s.pose_2d[:, sk.HEAD] - s.pose_2d[:, sk.ROOT]).numpy(), axis=-1)
        assert d.mean() == pytest.approx(0.1, rel=1e-5)
    x = (splits['test'].pose_2d_px - np.array([514.0435, 506.7003])) / 500.0
    x = x - x[:, 13:14]
    x[:, 13] = 1e-5
    k = 0.1 / np.linalg.norm(x[:, 16] - x[:, 13], axis=-1).mean()
    np.testing.assert_allclose(test.pose_2d.numpy(), x * k, rtol=1e-5, atol=1e-8)
    assert test.factor_2d == pytest.approx(k, rel=1e-9) and abs(train.factor_2d / k - 1) > 0.02


def test_fixed_rotations_seed_2019_theta_plus_pi_copies_and_bounds(tiny_data):
    """One (theta, phi, psi) per training frame, drawn once as the original does: NumPy's seed
    2019, theta = (2u - 1) BOUND_AZIM for all N frames, then phi (BOUND_ELEV), then psi
    (BOUND_ELEV / 2); the N rows and their theta + pi copies shuffled together, the first N kept."""
    from lib.data.sampling import fixed_rotations
    n, az, el = 400, 2.44346, 0.5
    r = np.random.RandomState(2019)
    theta, phi, psi = ((2 * r.rand(n) - 1) * b for b in (az, el, el / 2))
    rows = np.stack([theta, phi, psi], 1)
    both = np.concatenate([rows, rows + [np.pi, 0, 0]])
    r.shuffle(both)
    got = fixed_rotations(n, az, el)
    np.testing.assert_array_equal(got, both[:n].astype(np.float32))
    assert not np.array_equal(got, fixed_rotations(n, az, el, seed=2018))
    # each row is a drawn row or its copy turned by pi, about half of them copies, within bounds
    j = np.abs(got[:, None, 1:] - rows[None, :, 1:]).sum(-1).argmin(1)          # the drawn row of each
    assert np.abs(got[:, 1:] - rows[j, 1:]).max() < 1e-6
    turned = np.abs(got[:, 0] - rows[j, 0] - np.pi) < 1e-5
    assert (turned | (np.abs(got[:, 0] - rows[j, 0]) < 1e-6)).all()
    assert 0.35 < turned.mean() < 0.65
    assert (np.abs(got[:, 1]) <= el).all() and (np.abs(got[:, 2]) <= el / 2).all()
    assert (np.abs(got[~turned, 0]) <= az).all() and (np.abs(got[turned, 0] - np.pi) <= az + 1e-6).all()
    # the training split takes them, in frame order; the test split has none
    cfg, splits = _synth_splits(tiny_data, 'npz')
    train = TensorSplit.from_split(splits['train'], cfg, torch.device('cpu'), train=True)
    t = cfg.TRAIN
    assert torch.equal(train.rot, torch.as_tensor(fixed_rotations(len(train), t.BOUND_AZIM, t.BOUND_ELEV)))
    assert TensorSplit.from_split(splits['test'], cfg, torch.device('cpu'), train=False).rot is None
