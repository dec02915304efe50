"""Figures (lib/vis/plot.py): a GIF and a contact sheet, a fixed 3D cube in metres, a camera
view that shows the 2D input."""
import os

import numpy as np
import pytest
from PIL import Image

from helpers import DEMO_MODEL, H, REPO, STANDING, W, not_blank
from lib.data import skeleton as sk
from lib.inference.lsp import lsp14_to_ours17
from lib.vis.plot import contact_sheet, figure_2d_3d, save_gif, save_png


# --- drawing ------------------------------------------------------------------------

def test_figures_gif_and_contact_sheet(tmp_path):
    pts = lsp14_to_ours17(STANDING)
    pose = np.concatenate([(pts - pts[sk.ROOT]) / 60.0, np.zeros((17, 1))], 1)
    img = np.full((H, W, 3), 120, np.uint8)
    missing = np.arange(17) == 0
    fig = figure_2d_3d(pts, pose, image=img, title='test', missing=missing)
    png = save_png(fig, str(tmp_path / 'a.png'))
    assert not_blank(png)
    with Image.open(png) as im:
        assert im.width > im.height                         # 2D panel beside the 3D views
    gif = save_gif(np.stack([pts] * 4), np.stack([pose] * 4), str(tmp_path / 'a.gif'), max_frames=3)
    with Image.open(gif) as g:
        assert g.n_frames == 3
    sheet = contact_sheet([png, png, str(tmp_path / 'missing.png')], str(tmp_path / 'sheet.png'), cols=2,
                          thumb=64)
    with Image.open(sheet) as s:
        assert s.width > 2 * 64
    assert contact_sheet([], str(tmp_path / 'none.png')) is None


# --- figures: a fixed cube in metres, a camera view that shows the 2D input ----------

def demo_pixels():
    """The 2D poses (ours order, pixels) of the demo inputs: one per file (a sequence's middle)."""
    from lib.inference.keypoints import list_inputs, read_input
    paths, _ = list_inputs(os.path.join(REPO, 'scripts', 'demo_input'))
    out = []
    for p in paths:
        inp = read_input(p)
        out.append((os.path.basename(p), inp.px_ours[len(inp.px_ours) // 2]))
    assert len(out) >= 4
    return out


def camera_panel_points(fig, pose):
    """Screen coordinates of the joints as the figure's camera-view panel projects them."""
    from mpl_toolkits.mplot3d import proj3d
    from lib.vis.plot import to_metres, to_plot_frame
    ax = [a for a in fig.axes if a.name == '3d' and 'camera view' in a.get_title()][0]
    P = to_plot_frame(to_metres(pose))
    x, y, _ = proj3d.proj_transform(P[:, 0], P[:, 1], P[:, 2], ax.get_proj())
    return np.stack([x, y], -1)


def similarity_residual(a, b):
    """Relative residual of b ~ s * a + t (s > 0: no mirror, no rotation), over the spread of b."""
    a0, b0 = a - a.mean(0), b - b.mean(0)
    s = (a0 * b0).sum() / (a0 ** 2).sum()
    assert s > 0
    return float(np.abs(s * a0 - b0).max() / np.abs(b0).max())


def back_projected(px, depth, c=10.0):
    """A 3D pose built as the network builds it: normalised 2D x, depth offsets d, z = d + c."""
    from lib.data.normalise import normalise_2d
    x, _ = normalise_2d(px[None].astype(np.float64), True)
    z = c + depth
    Y = np.concatenate([x[0] * z[:, None], z[:, None]], -1)
    return Y


@pytest.mark.parametrize('depth_spread', [0.3, 3.0])
def test_camera_view_shows_the_2d_input(depth_spread):
    """On the demo inputs, lifted with shallow and with very deep (poor) depths, the camera-view
    panel projects the 3D onto the 2D input (up to scale and shift; y flipped to 'up')."""
    from lib.data import skeleton as sk
    from lib.vis.plot import figure_2d_3d
    rng = np.random.RandomState(0)
    for name, px in demo_pixels():
        d = rng.uniform(-depth_spread, depth_spread, 17)
        d[sk.ROOT] = 0.0                  # the root at the camera distance, as the cycle places it
        pose = back_projected(px, d)
        fig = figure_2d_3d(px, pose)
        shown = camera_panel_points(fig, pose)
        want = px * np.array([1.0, -1.0])            # pixels: y down; the panel: up is up
        assert similarity_residual(shown, want) < 1e-3, name


def test_3d_cube_is_metres_and_fixed():
    """The cube is +-1 m whatever the lift; a lift reaching past it says how far in the title."""
    from lib.vis.plot import CUBE_M, figure_2d_3d
    name, px = demo_pixels()[0]
    small = back_projected(px, np.zeros(17))
    huge = small * 12.0
    for pose in (small, huge):
        fig = figure_2d_3d(px, pose)
        for ax in [a for a in fig.axes if a.name == '3d']:
            assert ax.get_xlim() == (-CUBE_M, CUBE_M) and ax.get_zlim() == (-CUBE_M, CUBE_M)
            assert ('reaches' in ax.get_title()) == (pose is huge)


def test_camera_view_of_the_shipped_models_lifts_shows_the_2d_input():
    from lib.config.defaults import get_default
    from lib.config.load import update_config
    from lib.eval.lifting import lift_in_batches
    from lib.eval.load_model import load_pose_model
    from lib.data.normalise import normalise_pixels
    from lib.vis.plot import figure_2d_3d
    cfg = update_config(get_default(), os.path.join(REPO, 'cfg', 'quickstart.yaml'))
    model = load_pose_model(cfg, DEMO_MODEL, log=lambda m: None)
    assert cfg.TRAIN.SCALE_ON_3D               # the shipped model scales its lifted 3D: the eye moves with it
    for name, px in demo_pixels():
        x, _ = normalise_pixels(px[None], cfg)
        poses, scales, depths = lift_in_batches(model, x, with_root_depth=True)
        pose = poses[0].astype(np.float32)
        fig = figure_2d_3d(px, pose, camera_distance=depths[0])   # the lift's own root depth, as the demo
        assert similarity_residual(camera_panel_points(fig, pose), px * np.array([1.0, -1.0])) < 1e-3, name


# --- the frames an animation shows ----------------------------------------------------------

def test_gif_and_sequence_animation_pick_frames_with_one_function():
    from lib.vis import plot, sequence_anim
    assert sequence_anim.frame_indices is plot.frame_indices
    np.testing.assert_array_equal(plot.frame_indices(5, 100), np.arange(5))
    np.testing.assert_array_equal(plot.frame_indices(10, 4), [0, 3, 6, 9])
    np.testing.assert_array_equal(plot.frame_indices(7, 7), np.arange(7))
    np.testing.assert_array_equal(plot.frame_indices(8, 3), [0, 4, 7])                # rounded, not cut
    np.testing.assert_array_equal(plot.frame_indices(100, 7), [0, 16, 33, 50, 66, 82, 99])
    idx = plot.frame_indices(250, 100)
    assert len(idx) == 100 and idx[0] == 0 and idx[-1] == 249 and (np.diff(idx) > 0).all()
