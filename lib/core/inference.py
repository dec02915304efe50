"""Transitional alias of :mod:`lib.core.load_model`, for ``tools/main.py`` until it imports
``from lib.core.load_model import load_pose_model``; delete this file then."""
from lib.core.load_model import load_pose_model  # noqa: F401
