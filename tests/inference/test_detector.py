"""The offline 2D detector on the authors' demo images (lib/inference/detector.py) and its
agreement with their 2D (detector_eval.py).  The real-image checks use the 12 demo images
shipped in ``scripts/demo_input``; only the LSP-sample check needs ``../shared``."""
import os

import numpy as np
import pytest
from PIL import Image

from helpers import DEMO, LSP_SAMPLE, demo_2d_v3d, demo_image
from lib.inference.detector_eval import demo_agreement, limb_errors, lsp_agreement


# --- the detector on real images ---------------------------------------------------

def test_detector_agrees_with_the_authors_2d(detector):
    acc = demo_agreement(detector, DEMO)
    print(acc.line('authors\' demo images'))
    assert acc.images == 12
    assert acc.detected >= 10, acc.missed
    assert acc.fraction >= 0.85


def test_largest_person_is_chosen(detector):
    """Two real people side by side, one twice the size of the other: the larger one is kept."""
    small, big = Image.fromarray(demo_image(0)), Image.fromarray(demo_image(1))
    big = big.resize((big.width * 2, big.height * 2))
    canvas = Image.new('RGB', (small.width + big.width + 40, big.height), (90, 90, 90))
    canvas.paste(small, (0, big.height - small.height))
    canvas.paste(big, (small.width + 40, 0))
    d = detector.detect(np.asarray(canvas))
    assert d is not None and d.people >= 2       # (the images also hold spectators)
    assert d.landmarks[:, 0].min() > small.width          # all of it on the big person


@pytest.mark.skipif(not os.path.isdir(LSP_SAMPLE), reason='needs ../shared/data/lsp_sample')
def test_lsp_subset_detection_and_agreement(detector):
    acc = lsp_agreement(detector, LSP_SAMPLE, limit=50)
    print(acc.line('LSP sample, first 50'))
    assert acc.images == 50 and acc.detected >= 40      # 400 images: 358 found (89.5 %)
    assert acc.fraction > 0.45                           # 400 images: 58.5 %


def test_limb_errors_uses_torso_lengths():
    ref = demo_2d_v3d(0)
    torso = np.linalg.norm((ref[11] + ref[14]) / 2 - (ref[1] + ref[4]) / 2)
    moved = ref.copy()
    moved[13] += [0.3 * torso, 0]
    err = limb_errors(moved, ref)
    assert np.isclose(err.max(), 0.3) and (err > 0).sum() == 1
