"""Animations (lib/utils/media_io.py): an mp4 through OpenCV, else a GIF with one line."""
import os
import sys

import numpy as np
from PIL import Image

from helpers import HAVE_OPENCV


def test_animation_is_an_mp4_through_opencv_else_a_gif_with_one_line(tmp_path, monkeypatch):
    """The one rule of scripts/inference.py --video and tools/vis_sequences.py (no system ffmpeg)."""
    from lib.utils.media_io import write_animation
    frames = [np.full((45, 61, 3), 40 * t, np.uint8) for t in range(5)]      # odd sides: padded to even
    lines = []
    if HAVE_OPENCV:
        import cv2
        path = write_animation(frames, str(tmp_path / 'a'), 10, 'mp4', say=lines.append)
        assert path == str(tmp_path / 'a.mp4') and lines == []
        cap = cv2.VideoCapture(path)
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5 and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 62
        cap.release()
    monkeypatch.setitem(sys.modules, 'cv2', None)                         # as without OpenCV
    path = write_animation(frames, str(tmp_path / 'b'), 10, 'mp4', say=lines.append)
    assert path == str(tmp_path / 'b.gif') and len(lines) == 1, lines
    assert lines[0].startswith('warning: OpenCV is not installed') and 'requirements-media.txt' in lines[0]
    with Image.open(path) as im:
        assert im.n_frames == 5 and im.size == (61, 45)
    assert path == write_animation(frames, str(tmp_path / 'b'), 10, 'gif', say=lines.append) and len(lines) == 1
    assert not (tmp_path / 'b.mp4').exists() and not [p for p in os.listdir(tmp_path) if p.startswith('.')]
