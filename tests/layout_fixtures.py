"""MPI-INF-3DHP and SURREAL fixtures in the authors' h5 layouts, for tests.

Two sources of motion, the same writer (:func:`lib.prep.layouts.write_layout`):

* :func:`bvh_clips`: the shared CMU-derived BVH motion capture
  (``../shared/data/mocap_bvh``) through the project's forward kinematics
  (:func:`lib.prep.bvh.h36m17_positions`), windows of a few seconds;
* :func:`synthetic_clips`: the walking skeleton of ``synth.py``, no files
  needed (the fallback when ``../shared`` is absent).
"""
import os

import numpy as np

import synth
from lib.prep.layouts import CAMERAS, world_to_view, write_layout

BVH_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                                        'shared', 'data', 'mocap_bvh'))

# sequence names in the datasets' styles: MPI-INF-3DHP test sequences TS1..TS6, SURREAL runs/clips
SEQ_NAMES = {'mpi': {'train': ['S1/Seq1/imageSequence', 'S2/Seq1/imageSequence'],
                     'valid': ['TS1/imageSequence', 'TS2/imageSequence']},
             'surreal': {'train': ['run0/01_01_c0001', 'run0/02_03_c0002'],
                         'valid': ['run1/05_01_c0001', 'run1/06_02_c0003']}}


def synthetic_clips(frames=(90, 70), seed=0):
    """Two world clips (T, 17, 3), z-up metres, v3d order."""
    return [synth.motion(n, seed=seed + k, size=1.0 - 0.05 * k) for k, n in enumerate(frames)]


def bvh_clips(files=('salsa', 'martial'), frames=(90, 70), start=200):
    """Two world clips from the shared BVH files (first clip of each folder), z-up metres."""
    from lib.prep.bvh import h36m17_positions, load_bvh
    out = []
    for folder, n in zip(files, frames):
        d = os.path.join(BVH_DIR, folder)
        path = os.path.join(d, sorted(f for f in os.listdir(d) if f.endswith('.bvh'))[0])
        X, _ = h36m17_positions(load_bvh(path), fps=50)
        X = X[start:start + n] * 0.01                       # centimetres, Y up
        out.append(np.stack([X[..., 0], -X[..., 2], X[..., 1]], -1))   # -> metres, Z up
    return out


def write_dataset(folder, dataset, source='synthetic'):
    """Write ``<dataset>_train_pred3.h5`` and ``<dataset>_valid_pred3.h5`` into ``folder``."""
    os.makedirs(folder, exist_ok=True)
    cam = CAMERAS[dataset]
    dist = 4.5 if dataset == 'mpi' else 6.0
    for k, split in enumerate(('train', 'valid')):
        worlds = bvh_clips(start=200 + 400 * k) if source == 'bvh' else synthetic_clips(seed=10 * k)
        clips = {name: world_to_view(X, cam, dist) for name, X in zip(SEQ_NAMES[dataset][split], worlds)}
        write_layout(os.path.join(folder, '%s_%s_pred3.h5' % (dataset, split)), dataset, clips, seed=k)
    return folder


YAML = """
DATA_DIR: '{data}'
OUTPUT_DIR: '{out}'
LOG_DIR: '{log}'
BATCH_SIZE: 32
DATA:
  DATASET_NAME: {dataset}
NETWORK:
  NUM_CHANNELS: 32
  LIFTER_RES_BLOCKS: 1
TRAIN:
  NUM_EPOCHS: 1
  USE_SCALER: true
  USE_NEW_TEMP: true
  PRETRAIN_LIFTER: false
"""


def layout_argv(tmp, dataset, opts=()):
    """tools/main.py arguments for the ``dataset`` fixture under ``tmp`` (config written to tmp/c.yaml)."""
    cfg = tmp / 'c.yaml'
    cfg.write_text(YAML.format(data=tmp / 'data', out=tmp / 'out', log=tmp / 'log', dataset=dataset))
    return ['--cfg', cfg, '--gpu', '-1', '--opts'] + list(opts)
