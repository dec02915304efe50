"""Reading images and videos, writing videos (Pillow and OpenCV; OpenCV comes with MediaPipe).

* :func:`read_image`: any file Pillow opens -> (H, W, 3) uint8 RGB (EXIF
  orientation applied, so a phone's portrait photo stays upright).
* :func:`list_images`: the image files of a folder, sorted by name.
* :func:`read_video`: the frames of a video (every ``step``-th, at most
  ``max_frames``) and its frame rate.
* :func:`write_mp4`: RGB frames -> an MP4 (``mp4v``), written atomically.

Problems the user can fix raise :class:`lib.utils.errors.UserError`.
"""
import os
import sys
from contextlib import contextmanager

import numpy as np

from lib.utils.errors import UserError
from lib.utils.safe_io import atomic_path

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
MIN_SIDE = 16                  # smaller images and video frames cannot show a person to detect
MAX_PIXELS = 100_000_000       # larger ones are refused before decoding (a 60000x60000 PNG is 10.8 GB)


def check_frame_size(width, height, path, what='image'):
    """UserError for a picture too small to show a person or too large to decode."""
    if min(width, height) < MIN_SIDE:
        raise UserError('%s is %dx%d pixels, too small to find a person in' % (what, width, height), path,
                        'use pictures at least %d pixels on each side' % MIN_SIDE)
    if width * height > MAX_PIXELS:
        raise UserError('%s is %dx%d pixels, more than %d million' % (what, width, height, MAX_PIXELS // 10 ** 6),
                        path, 'scale it down first')


@contextmanager
def quiet_stderr():
    """Point file descriptor 2 at /dev/null for the block: the C++ libraries (MediaPipe's
    logging, FFmpeg inside OpenCV) write there directly, past Python's sys.stderr."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def read_image(path, upright=True, where='check the path'):
    """(H, W, 3) uint8 RGB; UserError when the file is missing (``where`` says where it should
    be) or not an image.  ``upright``: turned as its EXIF orientation says, as a viewer shows it
    (False for images whose annotations were made on the stored pixels, e.g. LSP)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not os.path.isfile(path):
        raise UserError('image not found', path, where)
    try:
        with Image.open(path) as im:
            check_frame_size(im.width, im.height, path)          # from the header, before decoding
            if upright:
                im = ImageOps.exif_transpose(im)
            return np.asarray(im.convert('RGB'))
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise UserError('unreadable image (%s)' % str(e).split('\n')[0][:100], path,
                        'replace the file with an intact image (JPEG, PNG, ...)') from None


def list_images(folder):
    """Sorted image files (by extension) of ``folder``; UserError when it is missing."""
    if not os.path.isdir(folder):
        raise UserError('image folder not found', folder, 'pass --images with a folder of images')
    return [os.path.join(folder, n) for n in sorted(os.listdir(folder))
            if not n.startswith('.') and n.lower().endswith(IMAGE_SUFFIXES)
            and os.path.isfile(os.path.join(folder, n))]


def _cv2():
    try:
        import cv2
    except ImportError as e:
        raise UserError('OpenCV is not installed (%s)' % e, 'cv2', 'pip install -r requirements.txt') from None
    return cv2


def read_video(path, step=1, max_frames=None):
    """Frames (list of (H, W, 3) uint8 RGB) and frames per second of the kept frames.

    Every ``step``-th frame is kept, at most ``max_frames`` of them.  A file
    OpenCV cannot open, or one without a single frame, is a UserError.
    """
    cv2 = _cv2()
    if not os.path.isfile(path):
        raise UserError('video not found', path, 'check the path')
    with quiet_stderr():
        cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            raise UserError('unreadable video (OpenCV cannot open it)', path,
                            'convert it to MP4 (H.264) or AVI, or pass its frames with --images')
        fps = cap.get(cv2.CAP_PROP_FPS)
        frames, k = [], 0
        while max_frames is None or len(frames) < max_frames:
            with quiet_stderr():
                ok, bgr = cap.read()
            if not ok:
                break
            if not frames and k == 0:
                check_frame_size(bgr.shape[1], bgr.shape[0], path, 'the video frame')
            if k % step == 0:
                frames.append(np.ascontiguousarray(bgr[:, :, ::-1]))
            k += 1
    finally:
        cap.release()
    if not frames:
        raise UserError('the video has no frames that can be decoded', path,
                        'check the file (an empty or truncated video?)')
    fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else 25.0
    return frames, fps / step


def write_mp4(frames, path, fps):
    """Write RGB frames (all the same size) as an MP4, atomically."""
    cv2 = _cv2()
    frames = list(frames)
    h, w = frames[0].shape[:2]
    with atomic_path(path, suffix='.mp4') as tmp:
        out = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*'mp4v'), float(fps), (w, h))
        if not out.isOpened():
            raise UserError('cannot write an MP4 here (OpenCV has no mp4v encoder)', path, 'use --gif')
        try:
            for f in frames:
                out.write(np.ascontiguousarray(np.asarray(f, np.uint8)[:, :, ::-1]))
        finally:
            out.release()
    return path
