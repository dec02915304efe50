"""Depth in every animation: the demo GIF, the video frames and the sequence animations draw the
3D pose from the camera *and* from the side, in a cube sized to the typical frame."""
import numpy as np
import pytest
from PIL import Image

from helpers import STANDING
from lib.data import skeleton as sk
from lib.inference.lsp import lsp14_to_ours17
from lib.vis import plot, sequence_anim, video
from lib.vis.plot import VIEWS, typical_radius
from lib.vis.sequences import Sequence


def standing(n, depth=0.0):
    """n frames of a standing pose (ours order): pixels, and 3D in network units."""
    pts = lsp14_to_ours17(STANDING)
    pose = np.concatenate([(pts - pts[sk.ROOT]) / 60.0, np.full((17, 1), depth)], 1)
    return np.stack([pts] * n), np.stack([pose] * n)


def record_3d_axes(monkeypatch, module, name):
    """Patch ``module.name`` (the 3D drawing call) to record the (elev, azim) of each axes it draws on."""
    seen = []
    real = getattr(module, name)

    def spy(ax, *a, **k):
        seen.append((round(float(ax.elev), 3), round(float(ax.azim), 3)))
        return real(ax, *a, **k)
    monkeypatch.setattr(module, name, spy)
    return seen


def both_views():
    return {(round(e, 3), round(a, 3)) for _, e, a in VIEWS}


def test_views_are_a_camera_and_a_side_view():
    names = [v[0] for v in VIEWS]
    assert names == ['camera view', 'side view']
    assert abs(VIEWS[1][2]) < 30          # looks along x: depth runs across the panel


def test_demo_gif_frames_show_the_camera_and_the_side_view(tmp_path, monkeypatch):
    seen = record_3d_axes(monkeypatch, plot, '_draw_3d_artists')
    px, pose = standing(4)
    gif = plot.save_gif(px, pose, str(tmp_path / 'a.gif'), max_frames=3)
    assert len(seen) == 3 * 2 and set(seen) == both_views()
    one = plot.save_gif(px, pose, str(tmp_path / 'b.gif'), max_frames=3, views=VIEWS[:1])
    with Image.open(gif) as g, Image.open(one) as h:
        assert g.n_frames == 3 and g.width > h.width + 200          # the extra panel


def test_video_frames_show_the_camera_and_the_side_view(monkeypatch):
    seen = record_3d_axes(monkeypatch, video, '_draw_3d_artists')
    px, pose = standing(3)
    frames = [np.full((120, 90, 3), 200, np.uint8)] * 3
    out = video.render_frames(frames, px, pose, np.array([True, False, True]), 1.0)
    assert len(out) == 3 and len(seen) == 2 * 2 and set(seen) == both_views()   # skipped frame: no pose
    assert out[0].shape[0] == video.PANEL_PX and out[0].shape[1] > 2 * video.PANEL_PX


def test_sequence_animation_shows_the_camera_and_the_side_view(tmp_path, monkeypatch):
    seen = record_3d_axes(monkeypatch, sequence_anim, '_draw_pose_3d')
    px, pose = standing(3)
    seq = Sequence('S9/walk/0', px, pose * 0.68, pose * 0.7)
    sequence_anim.render(seq, tmp_path / 'walk.gif', max_frames=3)
    assert len(seen) == 3 * 2 * 2 and set(seen) == both_views()          # prediction and GT in each view


def test_cube_follows_the_typical_frame_not_the_worst():
    _, pose = standing(100)
    pose = pose * 0.68
    usual = typical_radius(pose, minimum=0.1, step=0.1)
    wild = pose.copy()
    wild[3] *= 4.0                                          # one frame four times too large
    assert typical_radius(wild, minimum=0.1, step=0.1) == usual
    assert usual == pytest.approx(np.ceil(np.abs(pose).max() * 1.05 / 0.1) * 0.1)
    assert typical_radius(np.zeros((0, 17, 3)), minimum=0.6) == 0.6
    assert typical_radius(pose * 10, minimum=1.0, step=0.25) > 1.0       # and grows for large poses
