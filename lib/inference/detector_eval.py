"""How well the detector's mapped 2D agrees with human or reference 2D keypoints.

The measure: the fraction of the 12 limb joints (shoulders, elbows, wrists,
hips, knees, ankles) whose mapped 2D lies within ``TOL`` (0.2) torso lengths of
the reference, over the images where a person was found.  The torso length is
the reference's distance from the mid-shoulder to the mid-hip point.  Used by
``tools/measure_detector.py`` and the tests, on

* the authors' 12 demo images (``scripts/demo_input``; their own 2D in the
  ``.pkl``, ``original_joints_2d``, ours order), and
* the LSP sample (``../shared/data/lsp_sample``; annotated joints only).
"""
import os
import time
from dataclasses import dataclass, field

import numpy as np

from lib.data import skeleton as sk
from lib.inference import lsp
from lib.inference.joint_orders import to_v3d17
from lib.utils.errors import UserError
from lib.utils.media_io import read_image
from lib.utils.safe_io import safe_pickle_load

TOL = 0.2
LIMBS_V3D = np.array([1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16])


@dataclass
class Agreement:
    images: int = 0
    detected: int = 0
    within: int = 0              # limb joints within TOL torso lengths
    compared: int = 0            # limb joints compared
    missed: list = field(default_factory=list)
    head_errors: list = field(default_factory=list)   # head top, torso lengths (LSP only)

    @property
    def rate(self):
        return self.detected / self.images if self.images else 0.0

    @property
    def fraction(self):
        return self.within / self.compared if self.compared else 0.0

    def line(self, name):
        return ('%s: person found in %d of %d images (%.1f %%); limb joints within %.1f torso lengths '
                'of the reference: %d of %d (%.1f %%)' % (name, self.detected, self.images, 100 * self.rate,
                                                          TOL, self.within, self.compared, 100 * self.fraction))


def limb_errors(pred_v3d, ref_v3d, visible=None):
    """Errors of the 12 limb joints in torso lengths (NaN where ``visible`` (17,) is False)."""
    pred, ref = np.asarray(pred_v3d, np.float64), np.asarray(ref_v3d, np.float64)
    torso = np.linalg.norm((ref[11] + ref[14]) / 2 - (ref[1] + ref[4]) / 2)
    err = np.linalg.norm(pred[LIMBS_V3D] - ref[LIMBS_V3D], axis=-1) / max(torso, 1e-6)
    if visible is not None:
        err = np.where(np.asarray(visible, bool)[LIMBS_V3D], err, np.nan)
    return err


def _add(acc, pred_v3d, ref_v3d, visible=None):
    err = limb_errors(pred_v3d, ref_v3d, visible)
    ok = np.isfinite(err)
    acc.compared += int(ok.sum())
    acc.within += int((err[ok] <= TOL).sum())


def detected_v3d(detector, rgb):
    """The detector's largest person in ``rgb`` as (17, 2) v3d pixels, or None."""
    d = detector.detect(rgb)
    if d is None:
        return None
    px, _ = to_v3d17(d.landmarks[None], 'mediapipe33')
    return px[0]


def demo_agreement(detector, folder):
    """Agreement with the authors' 2D on every ``N.jpg`` that has an ``N.pkl`` in ``folder``."""
    acc = Agreement()
    for name in sorted(os.listdir(folder)):
        stem, ext = os.path.splitext(name)
        pkl = os.path.join(folder, stem + '.pkl')
        if ext.lower() != '.jpg' or not os.path.isfile(pkl):
            continue
        ref = sk.ours_to_v3d(np.asarray(safe_pickle_load(pkl)['original_joints_2d'], np.float64))
        acc.images += 1
        pred = detected_v3d(detector, read_image(os.path.join(folder, name)))
        if pred is None:
            acc.missed.append(name)
            continue
        acc.detected += 1
        _add(acc, pred, ref)
    return acc


def lsp_agreement(detector, root, limit=None, progress=None):
    """Agreement with the LSP annotations (annotated joints only) on the first ``limit`` images."""
    joints, layout = lsp.read_joints_mat(os.path.join(root, 'joints.mat'))
    joints = joints[:limit] if limit else joints
    acc = Agreement()
    folder = lsp.image_folder(root)
    for i in (progress or (lambda x: x))(range(len(joints))):
        path = lsp.image_path(folder, layout, i)
        img = read_image(path)
        acc.images += 1
        pred = detected_v3d(detector, img)
        if pred is None:
            acc.missed.append(os.path.basename(path))
            continue
        acc.detected += 1
        miss14 = lsp.missing_joints(joints[i], layout, img.shape[1::-1])
        if miss14[[2, 3, 8, 9]].any():
            continue                     # no torso to measure against
        ref = sk.ours_to_v3d(lsp.lsp14_to_ours17(joints[i][:, :2]))
        _add(acc, pred, ref, ~sk.ours_to_v3d(lsp.missing_to_ours17(miss14)[:, None])[:, 0])
        if not miss14[lsp.LSP_HEAD]:
            torso = np.linalg.norm(ref[8] - ref[0])
            acc.head_errors.append(float(np.linalg.norm(pred[10] - ref[10]) / torso))
    return acc


def measure_detector(demo, lsp_root, limit=None, progress=None, say=print):
    """``tools/measure_detector.py``: the agreement on the demo images and on the LSP sample (each
    when its folder exists), one line each with the time taken, then the images with nobody
    found and the head-top error."""
    if not os.path.isdir(demo) and not os.path.isdir(lsp_root):
        raise UserError('neither the demo folder nor the LSP sample exists', '%s, %s' % (demo, lsp_root),
                        'pass --demo or --lsp')
    from lib.inference.detector import PoseDetector  # loads MediaPipe
    with PoseDetector() as det:
        if os.path.isdir(demo):
            t = time.time()
            acc = demo_agreement(det, demo)
            say(acc.line('authors\' demo images') + ' [%.1f s]' % (time.time() - t))
            if acc.missed:
                say('  no person found in: ' + ', '.join(acc.missed))
        if os.path.isdir(lsp_root):
            t = time.time()
            acc = lsp_agreement(det, lsp_root, limit, progress)
            say(acc.line('LSP sample') + ' [%.1f s]' % (time.time() - t))
            if acc.head_errors:
                say('  head top (rule from ears and shoulders): median error %.3f torso lengths over %d images'
                    % (float(np.median(acc.head_errors)), len(acc.head_errors)))
