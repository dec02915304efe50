"""Reading images and videos, writing videos (Pillow; OpenCV from requirements-media.txt).

* :func:`read_image`: any file Pillow opens -> (H, W, 3) uint8 RGB (EXIF
  orientation applied, so a phone's portrait photo stays upright).
* :func:`list_images`: the image files of a folder, sorted by name.
* :func:`read_video`: the frames of a video (every ``step``-th, at most
  ``max_frames``) and its frame rate.
* :func:`write_mp4`, :func:`write_gif`: RGB frames -> an MP4 (``mp4v``) or a GIF, atomically;
  :func:`write_animation`: an MP4 when OpenCV can write one here, else a GIF and one line why.

OpenCV (``cv2``) is imported only inside the video functions: the rest of the project
runs without it.

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
    """Sorted image files (by extension) of ``folder``, or ``[folder]`` when it is one image file;
    UserError when it is missing or a file that is not an image."""
    if os.path.isfile(folder):
        if not folder.lower().endswith(IMAGE_SUFFIXES):
            raise UserError('not an image (expected %s)' % ' '.join(IMAGE_SUFFIXES), folder,
                            'pass --images with an image or a folder of images')
        return [folder]
    if not os.path.isdir(folder):
        raise UserError('image file or folder not found', folder, 'pass --images with an image or a folder of images')
    return [os.path.join(folder, n) for n in sorted(os.listdir(folder))
            if not n.startswith('.') and n.lower().endswith(IMAGE_SUFFIXES)
            and os.path.isfile(os.path.join(folder, n))]


def _cv2():
    try:
        import cv2
    except ImportError as e:
        raise UserError('OpenCV is not installed (%s)' % e, 'cv2', 'pip install -r requirements-media.txt') from None
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


class NoMP4Writer(UserError):
    """No MP4 can be written here: OpenCV is missing or has no mp4v encoder."""


def write_mp4(frames, path, fps):
    """Write RGB frames (all the same size; padded with white to even sides, as encoders want)
    as an MP4 through OpenCV's own FFmpeg (no system ffmpeg needed), atomically.
    :class:`NoMP4Writer` when OpenCV is not installed or cannot encode mp4v."""
    try:
        import cv2
    except ImportError as e:
        raise NoMP4Writer('OpenCV is not installed (%s)' % e, 'cv2', 'pip install -r requirements-media.txt') from None
    frames = list(frames)
    h, w = frames[0].shape[:2]
    H, W = h + h % 2, w + w % 2
    with atomic_path(path, suffix='.mp4') as tmp:
        out = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*'mp4v'), float(fps), (W, H))
        if not out.isOpened():
            raise NoMP4Writer('OpenCV cannot encode MP4 here (no mp4v encoder)', path, 'write a GIF instead')
        try:
            for f in frames:
                bgr = np.full((H, W, 3), 255, np.uint8)
                bgr[:h, :w] = np.asarray(f, np.uint8)[:, :, ::-1]
                out.write(bgr)
        finally:
            out.release()
    return path


def write_gif(frames, path, fps):
    """Write RGB frames as an animated GIF (Pillow; looping), atomically."""
    from PIL import Image
    ims = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames]
    with atomic_path(path, suffix='.gif') as tmp:
        ims[0].save(tmp, format='GIF', save_all=True, append_images=ims[1:],
                    duration=int(round(1000.0 / fps)), loop=0)
    return path


def write_animation(frames, stem_path, fps, fmt='mp4', say=None):
    """``stem_path + '.mp4'`` through OpenCV (``fmt`` 'mp4') or ``stem_path + '.gif'``; returns
    the path written.  When no MP4 can be written here (OpenCV missing or without an mp4v
    encoder) the GIF is written instead and ``say`` (default: stderr) gets one line saying why.
    The one rule for ``scripts/inference.py --video`` and ``tools/vis_sequences.py``."""
    frames = list(frames)
    if fmt == 'mp4':
        try:
            return write_mp4(frames, stem_path + '.mp4', fps)
        except NoMP4Writer as e:
            line = 'warning: %s, so the animation is a GIF (%s.gif)' % (e.what, stem_path)
            if 'not installed' in e.what:
                line += '; for MP4: pip install -r requirements-media.txt'
            (say or (lambda m: print(m, file=sys.stderr)))(line)
    return write_gif(frames, stem_path + '.gif', fps)
