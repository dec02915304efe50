"""Put the repository root on ``sys.path``, so that the entry points can ``import lib``.

Each script here imports this module first (``import _init_paths  # noqa: F401``) and
then imports ``lib`` plainly.  It works from the repository root (``python tools/x.py``)
and from inside ``tools/`` (``cd tools && python x.py``): Python puts the script's own
folder, which holds this file, first on ``sys.path``.  It imports nothing else (no torch).
"""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)
