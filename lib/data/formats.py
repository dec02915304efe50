"""What differs between the three datasets the original reads: one table.

``DATA.DATASET_NAME`` picks the entry: ``mpi`` (MPI-INF-3DHP) and ``surreal``
(SURREAL) have their own; every other name (``h36m``, and the names of
converted BVH collections) is read as Human3.6M.  The numbers are the
authors' (their ``lib/dataloader/{h36m,mpiinf,surreal}.py``,
``lib/models/model.py`` and ``lib/core/function*.py``):

=================  =====================  ======================  =======================
                   h36m                   mpi                     surreal
=================  =====================  ======================  =======================
2D key (GT 2D)     joint_2d_gt            joint_2d_gt             original_joint_2d_gt
2D key (detected)  joint_2d_pre           joint_2d_pre            (GT 2D only)
stored order       v3d                    MPI-INF-3DHP 17         ours (no reordering)
3D unit in file    metres                 millimetres             metres
frame              1000x1000 (about)      2048x2048               320x240
2D normalisation   (u-514.0435)/500,      (u-1024)/1024,          (u-160)/160,
                   (v-506.7003)/500       (v-1024)/1024           (v-160)/160
projection clamp   +-0.2                  +-0.35                  +-0.25
TMC neighbour      5 frames (or           FRAME_INTERVAL (1       FRAME_INTERVAL
                   FRAME_INTERVAL if >1)  by default)
constant eval      0.680019               0.7577316               0.56071004
factor (test)
best checkpoint    lowest P-MPJPE         highest AUC after       lowest P-MPJPE
                                          rigid alignment
=================  =====================  ======================  =======================

The constant evaluation factor is used only with ``DATA.USE_SAME_NORM_3D``
(the default scales each frame by its own ground-truth head-root length).
SURREAL divides both image axes by 160 although its frames are 240 high, as
the original does; after the per-split head-root normalisation only the root's
1e-5 placeholder depends on these constants.
"""
from dataclasses import dataclass

import numpy as np

from lib.data import skeleton as sk

# ours[i] = mpi[MPI_TO_OURS[i]], the authors' ``mpi2h36m``.  MPI-INF-3DHP 17-joint order:
# 0 head top, 1 neck, 2 RShoulder, 3 RElbow, 4 RWrist, 5 LShoulder, 6 LElbow, 7 LWrist,
# 8 RHip, 9 RKnee, 10 RAnkle, 11 LHip, 12 LKnee, 13 LAnkle, 14 pelvis, 15 spine, 16 head
MPI_TO_OURS = np.array([10, 9, 8, 11, 12, 13, 4, 3, 2, 5, 6, 7, 1, 14, 15, 16, 0])
OURS_TO_MPI = np.argsort(MPI_TO_OURS)
MPI_NAMES = ['head_top', 'neck', 'right_shoulder', 'right_elbow', 'right_wrist', 'left_shoulder',
             'left_elbow', 'left_wrist', 'right_hip', 'right_knee', 'right_ankle', 'left_hip',
             'left_knee', 'left_ankle', 'pelvis', 'spine', 'head']


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    key_2d_gt: str
    key_2d_pre: str             # '' when the dataset has GT 2D only
    to_ours: tuple              # ours[i] = stored[to_ours[i]]
    unit_3d: float              # stored 3D * unit_3d = metres
    frame_size: tuple           # (width, height) of the images, pixels
    centre: tuple               # (cu, cv) subtracted from the pixels
    focal: float                # the pixels are divided by this
    proj_clamp: float           # the rotation cycle's projection clamp
    tmc_interval_always: bool   # TMC offset = FRAME_INTERVAL even when it is 1
    same_norm_3d_factor: float  # eval factor with DATA.USE_SAME_NORM_3D
    select_on_auc: bool         # model_best on AUC after alignment (else on P-MPJPE)
    pck: bool                   # report 3D PCK / AUC


H36M = DatasetSpec('h36m', 'joint_2d_gt', 'joint_2d_pre', tuple(sk.V3D_TO_OURS.tolist()), 1.0, (1000, 1002),
                   (514.0435, 506.7003), 500.0, 0.2, False, 0.680019, False, False)
MPI = DatasetSpec('mpi', 'joint_2d_gt', 'joint_2d_pre', tuple(MPI_TO_OURS.tolist()), 0.001, (2048, 2048),
                  (1024.0, 1024.0), 1024.0, 0.35, True, 0.7577316, True, True)
SURREAL = DatasetSpec('surreal', 'original_joint_2d_gt', '', tuple(range(17)), 1.0, (320, 240),
                      (160.0, 160.0), 160.0, 0.25, True, 0.56071004, False, False)

SPECS = {'mpi': MPI, 'surreal': SURREAL}


def get_spec(dataset_name):
    """The spec of ``DATA.DATASET_NAME``: MPI, SURREAL, or Human3.6M for any other name."""
    return SPECS.get(str(dataset_name), H36M)


def pose_model_args(cfg):
    """What the pose model needs to know of the data (``lib.models`` does not read it):
    ``get_pose_model(cfg, **pose_model_args(cfg))``.  ``proj_clamp``: the rotation cycle's
    projection clamp of ``DATA.DATASET_NAME`` (h36m 0.2, mpi 0.35, surreal 0.25); ``root``: the
    root joint, ours order."""
    return {'proj_clamp': get_spec(cfg.DATA.DATASET_NAME).proj_clamp, 'root': sk.ROOT}
