"""Fixtures of the inference tests."""
import pytest

from helpers import HAVE_DETECTOR
from lib.inference.detector import PoseDetector


@pytest.fixture(scope='module')
def detector():
    if not HAVE_DETECTOR:
        pytest.skip('needs the 2D detector (mediapipe) and OpenCV: pip install -r requirements-media.txt')
    with PoseDetector() as det:
        yield det
