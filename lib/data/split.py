"""The in-memory form of one data split, whatever file it came from.

Every reader (:mod:`lib.data.dataset` for Human3.6M-style files and archives,
:mod:`lib.data.mpi_surreal` for the authors' MPI-INF-3DHP and SURREAL files,
:mod:`lib.data.synthetic`) returns a :class:`PoseSplit`: per-frame arrays in the internal
"ours" joint order, pixels for 2D and metres (camera frame) for 3D, per-frame ``subject``,
``action``, ``camera``, ``frame``, and, after :meth:`PoseSplit.finish`, the sequence
bookkeeping (``seq_start``, ``block_end``, ``index_in_seq``, ``seqlen``) that neighbour
sampling needs.
"""
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from lib.utils.errors import UserError

MAX_PIXELS = 1e6        # 2D beyond this is not pixels (normalising would overflow)
MAX_METRES = 1e4        # 3D beyond this (10 km from the camera) is not a person in metres


@dataclass
class PoseSplit:
    """One split, frame-major.  2D in pixels, 3D in metres, both in ours order."""
    pose_2d_px: np.ndarray            # (N, 17, 2)
    pose_3d: np.ndarray               # (N, 17, 3), camera frame
    subject: np.ndarray               # (N,) str
    action: np.ndarray                # (N,) str
    camera: np.ndarray                # (N,) int, 0..3
    frame: np.ndarray                 # (N,) int
    seq_start: np.ndarray = None      # (N,) first row of the frame's block (its sequence's rows)
    index_in_seq: np.ndarray = None   # (N,) position in the sequence: the file's, else the row's
    seqlen: np.ndarray = None         # (N,) sequence length: the file's, else the block's
    block_end: np.ndarray = None      # (N,) one past the last row of the frame's block
    source: str = ''
    num_dropped: int = 0
    extra: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.pose_2d_px)

    def finish(self, drop_nonfinite=True):
        """Drop non-finite frames, then compute the sequence bookkeeping.

        Blocks are runs of rows of one (subject, action, camera).  Positions and
        lengths the reader took from the file (``index_in_seq`` / ``seqlen`` already
        set, as the original reads them) are kept; otherwise they are the row's place
        in its block and the block's length, and each sequence must be one block."""
        stored = self.index_in_seq is not None and self.seqlen is not None
        bad = ~(np.isfinite(self.pose_2d_px).all(axis=(1, 2)) & np.isfinite(self.pose_3d).all(axis=(1, 2)))
        if bad.all():                                # nothing would be left: the error alone, no warning first
            raise UserError('no usable frames: all %d hold NaN or inf keypoints' % len(bad), self.source,
                            'check the data files')
        if bad.any():
            if not drop_nonfinite:
                raise UserError('%d frames hold NaN or inf keypoints' % bad.sum(), self.source,
                                'clean the data or set DATA.DROP_NONFINITE: true')
            warnings.warn('%s: dropped %d of %d frames with NaN or inf keypoints'
                          % (self.source, bad.sum(), len(bad)))
            keep = ~bad
            for name in ('pose_2d_px', 'pose_3d', 'subject', 'action', 'camera', 'frame') + \
                    (('index_in_seq', 'seqlen') if stored else ()):
                setattr(self, name, getattr(self, name)[keep])
            for k, v in self.extra.items():          # per-frame extras (file rows, names)
                if isinstance(v, np.ndarray) and v.shape[:1] == keep.shape:
                    self.extra[k] = v[keep]
            self.num_dropped = int(bad.sum())
        if len(self) == 0:
            raise UserError('no usable frames', self.source, 'check the data files and the subject split')
        for name, a, top, unit in (('2D keypoints', self.pose_2d_px, MAX_PIXELS, 'pixels'),
                                   ('3D joints', self.pose_3d, MAX_METRES, 'm')):
            big = np.abs(a).max()
            if big >= top:
                raise UserError('%s reach %.3g %s, beyond %g: not %s' % (name, big, unit, top, unit), self.source,
                                'check the file\'s units and values')
        n = len(self)
        change = np.zeros(n, bool)                   # column by column: no per-frame string keys
        change[0] = True
        for col in (self.subject, self.action, self.camera):
            col = np.asarray(col)
            change[1:] |= col[1:] != col[:-1]
        starts = np.flatnonzero(change)
        key = np.char.add(np.char.add(np.asarray(self.subject)[starts].astype(str), '/'),
                          np.char.add(np.asarray(self.action)[starts].astype(str),
                                      np.char.add('/', np.asarray(self.camera)[starts].astype(str))))
        if not stored and len(np.unique(key)) != len(starts):   # a sequence split over several blocks
            raise UserError('sequences are not stored contiguously', self.source,
                            'store each (subject, action, camera) sequence in one block, in frame order')
        lens = np.diff(np.append(starts, n))
        self.seq_start = np.repeat(starts, lens)
        self.block_end = self.seq_start + np.repeat(lens, lens)
        if not stored:
            self.seqlen = np.repeat(lens, lens)
            self.index_in_seq = np.arange(n) - self.seq_start
        return self

    @property
    def action_group(self):
        """Action names without the take number ("Directions 1" -> "Directions")."""
        a = np.asarray(self.action)
        if len(a) == 0:
            return a.astype(str)
        change = np.ones(len(a), bool)               # one regex per run of equal names
        change[1:] = a[1:] != a[:-1]
        starts = np.flatnonzero(change)
        names = np.array([re.sub(r'[ _]\d+$', '', str(x)) for x in a[starts]])
        return np.repeat(names, np.diff(np.append(starts, len(a))))
