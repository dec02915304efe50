"""BVH motion capture: parser and vectorised forward kinematics (NumPy).

Conventions
-----------
* A BVH file has a ``HIERARCHY`` (``ROOT`` / ``JOINT`` / ``End Site`` blocks
  with an ``OFFSET`` and, except for end sites, ``CHANNELS``) and a
  ``MOTION`` section (``Frames:``, ``Frame Time:``, then one line of channel
  values per frame, in the order the channels appear in the hierarchy).
  ``CHANNELS n name...`` must list its n names on its own line.
* Joints are numbered in file order (depth first), so a parent always comes
  before its children.  An ``End Site`` becomes a joint named
  ``<parent>_End`` with no channels.
* Rotation channels are Euler angles in degrees that compose in the order
  they are listed: ``CHANNELS 3 Zrotation Xrotation Yrotation`` gives the
  local rotation ``R = Rz(z) @ Rx(x) @ Ry(y)`` (intrinsic rotations, first
  listed outermost).  ``Rx``, ``Ry``, ``Rz`` are the usual right-handed
  rotation matrices acting on column vectors.
* Position channels give the joint's local translation and replace the
  matching component of its ``OFFSET`` (Blender's reading; for the usual
  root with ``OFFSET 0 0 0`` this is the same as adding them).  A joint
  without position channels is translated by its ``OFFSET``.
* Forward kinematics: ``G_j = G_parent @ R_j`` and
  ``x_j = x_parent + G_parent @ t_j``; a root uses the identity and the
  origin as its parent.  Positions keep the file's units and axes (for
  the CMU-derived clips in ``../shared``: centimetres, Y up).

Malformed files raise :class:`lib.utils.errors.UserError` with
``where = "<file>:<line>"``.
"""
import os

import numpy as np

from lib.prep.skeletons import HEAD, detect_skeleton, head_top
from lib.utils.errors import UserError

_ROT_AXES = {'xrotation': 0, 'yrotation': 1, 'zrotation': 2}
_POS_AXES = {'xposition': 0, 'yposition': 1, 'zposition': 2}
_CANONICAL = {n.lower(): n for n in ('Xposition', 'Yposition', 'Zposition',
                                     'Xrotation', 'Yrotation', 'Zrotation')}



def _fix_hint():
    return 'repair or re-export the BVH file (see the BVH layout in lib/prep/bvh.py)'


class _Tokens:
    """Whitespace tokens of the header lines, each with its 1-based line number."""

    def __init__(self, lines, path):
        self.path = path
        self.toks = []
        self.end_line = len(lines)
        for i, line in enumerate(lines):
            words = line.split()
            if words and words[0].upper() == 'MOTION':
                self.toks.append(('MOTION', i + 1))
                self.end_line = i + 1
                break
            self.toks.extend((w, i + 1) for w in words)
        self.pos = 0

    def where(self, line=None):
        if line is None:
            line = self.toks[self.pos][1] if self.pos < len(self.toks) else self.end_line
        return '%s:%d' % (self.path, line)

    def peek(self):
        return self.toks[self.pos][0] if self.pos < len(self.toks) else None

    def next(self, what):
        if self.pos >= len(self.toks):
            raise UserError('BVH hierarchy ends early, expected %s' % what, self.where(), _fix_hint())
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def expect(self, word):
        tok, line = self.next(repr(word))
        if tok.upper() != word.upper():
            raise UserError('BVH: expected %r, found %r' % (word, tok), self.where(line), _fix_hint())
        return line

    def number(self, what):
        tok, line = self.next(what)
        try:
            v = float(tok)
        except ValueError:
            v = float('nan')
        if not np.isfinite(v):
            raise UserError('BVH: %s is not a number: %r' % (what, tok), self.where(line), _fix_hint())
        return v, line

    def rest_of_line(self, line):
        out = []
        while self.pos < len(self.toks) and self.toks[self.pos][1] == line:
            out.append(self.toks[self.pos][0])
            self.pos += 1
        return out


class Bvh:
    """A parsed BVH file.

    Attributes: ``path``; per joint (file order) ``names``, ``parents``
    (int array, -1 for a root), ``offsets`` (J, 3), ``channels`` (list of
    tuples of canonical channel names), ``channel_start`` (index of the
    joint's first channel in a motion row), ``lines`` (1-based line of the
    joint's ROOT/JOINT/End Site keyword); ``frame_time`` (seconds),
    ``motion`` (F, C) float64 and ``motion_lines`` (F,) the 1-based line of
    each motion row.
    """

    def __init__(self, path, names, parents, offsets, channels, lines, frame_time, motion, motion_lines):
        self.path = path
        self.names = list(names)
        self.parents = np.asarray(parents, np.int64)
        self.offsets = np.asarray(offsets, np.float64).reshape(-1, 3)
        self.channels = [tuple(c) for c in channels]
        self.channel_start = np.cumsum([0] + [len(c) for c in self.channels])[:-1]
        self.lines = list(lines)
        self.frame_time = float(frame_time)
        self.motion = np.asarray(motion, np.float64).reshape(len(motion), -1)
        self.motion_lines = np.asarray(motion_lines, np.int64)
        self._index = {n: j for j, n in enumerate(self.names)}

    @property
    def num_frames(self):
        return self.motion.shape[0]

    @property
    def num_channels(self):
        return int(sum(len(c) for c in self.channels))

    @property
    def fps(self):
        """Frames per second; snapped to the integer when Frame Time is a rounded 1/integer.

        Files write ``Frame Time: 0.00833333`` for 120 Hz: 1 / 0.00833333 is
        120.0000048, which would drift by a frame over a long clip.
        """
        fps = 1.0 / self.frame_time
        return float(round(fps)) if abs(fps - round(fps)) < 1e-5 * fps else fps

    def index(self, name):
        """Index of joint ``name``; a UserError pointing at the hierarchy if absent."""
        j = self._index.get(name)
        if j is None:
            raise UserError('BVH has no joint %r' % name, '%s:%d' % (self.path, self.lines[0]),
                            'map the skeleton with --joint-map FILE.yaml (docs/BVH_SKELETONS.md); '
                            'it has: %s' % ', '.join(self.names))
        return j

    def ancestors_closure(self, joints):
        """Sorted indices of ``joints`` and all their ancestors."""
        keep = set()
        for j in joints:
            while j >= 0 and j not in keep:
                keep.add(j)
                j = int(self.parents[j])
        return np.array(sorted(keep), np.int64)

    def local_transforms(self, joints=None):
        """Local rotations (F, K, 3, 3) and translations (F, K, 3) of ``joints`` (default: all)."""
        joints = np.arange(len(self.names)) if joints is None else np.asarray(joints, np.int64)
        F = self.num_frames
        R = np.broadcast_to(np.eye(3), (F, len(joints), 3, 3)).copy()
        t = np.broadcast_to(self.offsets[joints], (F, len(joints), 3)).copy()
        for k, j in enumerate(joints):
            start = self.channel_start[j]
            for ci, ch in enumerate(self.channels[j]):
                values = self.motion[:, start + ci]
                key = ch.lower()
                if key in _POS_AXES:
                    t[:, k, _POS_AXES[key]] = values
                else:
                    R[:, k] = R[:, k] @ axis_rotation(_ROT_AXES[key], np.deg2rad(values))
        return R, t

    def positions(self, joints=None, fps=None):
        """Global positions (F', K, 3) of ``joints`` (names or indices; default all).

        With ``fps`` the motion is resampled to that rate first (see
        :func:`resample_local`); otherwise F' = F frames at the file's rate.
        """
        if joints is None:
            idx = np.arange(len(self.names))
        else:
            idx = np.array([self.index(j) if isinstance(j, str) else int(j) for j in joints], np.int64)
        sub = self.ancestors_closure(idx)
        R, t = self.local_transforms(sub)
        if fps is not None:
            R, t = resample_local(R, t, self.fps, fps)
        remap = {j: k for k, j in enumerate(sub)}
        parents = np.array([remap.get(int(self.parents[j]), -1) for j in sub], np.int64)
        pos, _ = forward_kinematics(parents, R, t)
        return pos[:, [remap[int(j)] for j in idx]]


def axis_rotation(axis, angle):
    """Right-handed rotation matrices (..., 3, 3) about axis 0/1/2 (x/y/z) by ``angle`` radians."""
    angle = np.asarray(angle, np.float64)
    c, s = np.cos(angle), np.sin(angle)
    R = np.zeros(angle.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    R[..., axis, axis] = 1
    R[..., i, i] = c
    R[..., j, j] = c
    R[..., i, j] = -s
    R[..., j, i] = s
    return R


def forward_kinematics(parents, R_local, t_local):
    """Global positions (F, J, 3) and rotations (F, J, 3, 3) from local transforms.

    ``parents[j] < j`` (or -1 for a root); ``R_local`` (F, J, 3, 3),
    ``t_local`` (F, J, 3).  Vectorised over frames, one step per joint.
    """
    parents = np.asarray(parents)
    F, J = t_local.shape[:2]
    G = np.empty((F, J, 3, 3))
    X = np.empty((F, J, 3))
    for j in range(J):
        p = int(parents[j])
        if p < 0:
            G[:, j] = R_local[:, j]
            X[:, j] = t_local[:, j]
        else:
            if p >= j:
                raise ValueError('parents must come before their children')
            G[:, j] = G[:, p] @ R_local[:, j]
            X[:, j] = X[:, p] + np.einsum('fab,fb->fa', G[:, p], t_local[:, j])
    return X, G


def resample_local(R_local, t_local, src_fps, dst_fps):
    """Resample local rotations (F, J, 3, 3) and translations (F, J, 3) to ``dst_fps``.

    Output frame k is at time k / dst_fps, for every such time inside the
    clip (the first output frame is the first input frame).  Rotations are
    interpolated by slerp between the two nearest input frames, translations
    linearly.  Interpolating the joint *rotations* rather than the joint
    positions keeps every bone length exact (a linear blend of positions
    shortens a bone that turns by a radians between frames by up to
    L * a^2 / 8: several millimetres for a kicking leg at 120 Hz), and unlike
    picking the nearest frame it keeps the time steps even (120 -> 50 Hz is a
    step of 2.4 input frames).
    """
    from scipy.spatial.transform import Rotation

    F, J = t_local.shape[:2]
    if F <= 1:
        return R_local[:F].copy(), t_local[:F].copy()
    # 1e-3 frame of slack: a Frame Time written as 0.00833333 must still give every frame at 120 -> 120 fps
    n = int(np.floor((F - 1) / float(src_fps) * dst_fps + 1e-3)) + 1
    u = np.arange(n) * (float(src_fps) / dst_fps)             # fractional input frame index
    i0 = np.minimum(np.floor(u + 1e-9).astype(np.int64), F - 2)
    w = np.clip(u - i0, 0.0, 1.0)[:, None]                    # (n, 1)

    q = Rotation.from_matrix(R_local.reshape(-1, 3, 3)).as_quat().reshape(F, J, 4)
    q0, q1 = q[i0], q[i0 + 1]                                 # (n, J, 4)
    dot = np.sum(q0 * q1, axis=-1)
    q1 = np.where(dot[..., None] < 0, -q1, q1)                # shortest arc
    theta = np.arccos(np.clip(np.abs(dot), 0.0, 1.0))
    sin_t = np.sin(theta)
    small = sin_t < 1e-8
    safe = np.where(small, 1.0, sin_t)
    a = np.where(small, 1 - w, np.sin((1 - w) * theta) / safe)[..., None]
    b = np.where(small, w, np.sin(w * theta) / safe)[..., None]
    qi = a * q0 + b * q1
    qi /= np.linalg.norm(qi, axis=-1, keepdims=True)
    R = Rotation.from_quat(qi.reshape(-1, 4)).as_matrix().reshape(n, J, 3, 3)
    t = (1 - w[..., None]) * t_local[i0] + w[..., None] * t_local[i0 + 1]
    return R, t


def _parse_joint(toks, kind, parent, out):
    """Parse one ROOT/JOINT (``kind``) or End Site block after its keyword."""
    line = toks.toks[toks.pos - 1][1]
    if kind == 'End':
        toks.expect('Site')
        name = out['names'][parent] + '_End'
    else:
        name, _ = toks.next('a joint name')
        if name in ('{', '}'):
            raise UserError('BVH: %s without a name' % kind, toks.where(line), _fix_hint())
    if name in out['names']:
        raise UserError('BVH: duplicate joint name %r' % name, toks.where(line), 'give every joint its own name')
    j = len(out['names'])
    out['names'].append(name)
    out['parents'].append(parent)
    out['lines'].append(line)
    out['offsets'].append(None)
    out['channels'].append(())
    toks.expect('{')
    while True:
        tok, tline = toks.next("'}' closing joint %r" % name)
        key = tok.upper()
        if key == 'OFFSET':
            out['offsets'][j] = [toks.number('OFFSET of %r' % name)[0] for _ in range(3)]
            extra = toks.rest_of_line(tline)
            if extra:
                raise UserError('BVH: OFFSET of %r has more than 3 values' % name, toks.where(tline), _fix_hint())
        elif key == 'CHANNELS':
            if kind == 'End':
                raise UserError('BVH: an End Site has no CHANNELS', toks.where(tline), _fix_hint())
            n_tok, _ = toks.next('the channel count')
            listed = toks.rest_of_line(tline)
            if not n_tok.isdigit():
                raise UserError('BVH: channel count of %r is not a number: %r' % (name, n_tok),
                                toks.where(tline), _fix_hint())
            if int(n_tok) != len(listed):
                raise UserError('BVH: CHANNELS of %r declares %d channels but lists %d'
                                % (name, int(n_tok), len(listed)), toks.where(tline),
                                'make the count match the channel names on that line')
            bad = [c for c in listed if c.lower() not in _CANONICAL]
            if bad:
                raise UserError('BVH: unknown channel %r of %r' % (bad[0], name), toks.where(tline),
                                'channels are X/Y/Zposition and X/Y/Zrotation')
            if len(set(c.lower() for c in listed)) != len(listed):
                raise UserError('BVH: repeated channel in %r' % name, toks.where(tline), _fix_hint())
            out['channels'][j] = tuple(_CANONICAL[c.lower()] for c in listed)
        elif key in ('JOINT', 'END'):
            if kind == 'End':
                raise UserError('BVH: an End Site has no child joints', toks.where(tline), _fix_hint())
            _parse_joint(toks, 'JOINT' if key == 'JOINT' else 'End', j, out)
        elif tok == '}':
            break
        else:
            raise UserError('BVH: unexpected %r in joint %r' % (tok, name), toks.where(tline), _fix_hint())
    if out['offsets'][j] is None:
        raise UserError('BVH: joint %r has no OFFSET' % name, toks.where(line), _fix_hint())


MIN_FRAME_TIME, MAX_FRAME_TIME = 1e-4, 1.0   # 10 kHz to 1 Hz: motion capture, not a typo


def _header_value(lines, i, label, path, convert):
    """Parse ``<label> <value>`` on line index ``i`` (0-based)."""
    if i >= len(lines):
        raise UserError('BVH: missing %r line after MOTION' % label, '%s:%d' % (path, len(lines)), _fix_hint())
    text = lines[i].strip()
    if not text.lower().startswith(label.lower()):
        raise UserError('BVH: expected %r, found %r' % (label, text[:40]), '%s:%d' % (path, i + 1), _fix_hint())
    value = text[len(label):].strip()
    try:
        v = convert(value)
    except ValueError:
        v = None
    if v is None or not np.isfinite(v) or v < 0 or (label.startswith('Frame Time') and v == 0):
        raise UserError('BVH: %s %r is not a valid number' % (label, value), '%s:%d' % (path, i + 1), _fix_hint())
    return v


def parse_bvh(text, path='<bvh>'):
    """Parse the text of a BVH file; ``path`` names it in error messages."""
    lines = text.splitlines()
    toks = _Tokens(lines, path)
    toks.expect('HIERARCHY')
    out = {'names': [], 'parents': [], 'lines': [], 'offsets': [], 'channels': []}
    while toks.peek() is not None and toks.peek().upper() == 'ROOT':
        toks.next('ROOT')
        _parse_joint(toks, 'ROOT', -1, out)
    if not out['names']:
        raise UserError('BVH: no ROOT joint', toks.where(), _fix_hint())
    if toks.peek() != 'MOTION':
        tok = toks.peek()
        raise UserError('BVH: expected MOTION, found %r' % tok if tok else 'BVH: no MOTION section',
                        toks.where(), _fix_hint())
    i = toks.end_line                          # 0-based index of the line after MOTION
    n_frames = _header_value(lines, i, 'Frames:', path, int)
    frame_time = _header_value(lines, i + 1, 'Frame Time:', path, float)
    frames_line = i + 1
    if n_frames < 1:
        raise UserError('BVH: Frames: %d, the file holds no motion' % n_frames, '%s:%d' % (path, i + 1),
                        'export the clip with its frames, or remove the file')
    if not MIN_FRAME_TIME <= frame_time <= MAX_FRAME_TIME:
        raise UserError('BVH: Frame Time: %g s is outside [%g, %g] s (%g to %g frames per second)'
                        % (frame_time, MIN_FRAME_TIME, MAX_FRAME_TIME, 1 / MAX_FRAME_TIME, 1 / MIN_FRAME_TIME),
                        '%s:%d' % (path, i + 2), 'the Frame Time is the seconds per frame, e.g. 0.00833333 '
                        'for 120 Hz: fix it')

    C = sum(len(c) for c in out['channels'])
    rows, row_lines = [], []
    for k in range(i + 2, len(lines)):
        words = lines[k].split()
        if not words:
            continue
        if len(rows) == n_frames:
            raise UserError('BVH: more motion rows than the %d of Frames: (line %d)' % (n_frames, frames_line),
                            '%s:%d' % (path, k + 1), 'fix the Frames: count or remove the extra rows')
        if len(words) != C:
            last = all(not ln.strip() for ln in lines[k + 1:])
            raise UserError('BVH: motion row has %d values, the hierarchy declares %d channels%s'
                            % (len(words), C, ' (the file looks truncated)' if last and len(words) < C else ''),
                            '%s:%d' % (path, k + 1),
                            'the rows must hold one value per channel of the HIERARCHY' if not last else
                            'the file is cut short: get a complete copy')
        rows.append(words)
        row_lines.append(k + 1)
    if len(rows) < n_frames:
        raise UserError('BVH: motion is truncated: Frames: (line %d) declares %d frames but %d rows follow'
                        % (frames_line, n_frames, len(rows)),
                        '%s:%d' % (path, row_lines[-1] if row_lines else frames_line + 1),
                        'get a complete copy of the file or fix the Frames: count')
    try:
        motion = np.array(rows, dtype=np.float64).reshape(len(rows), C)
        bad = ~np.isfinite(motion).all(axis=1)
    except ValueError:
        motion, bad = None, None
    if motion is None or bad.any():
        for words, ln in zip(rows, row_lines):
            for w in words:
                try:
                    ok = np.isfinite(float(w))
                except ValueError:
                    ok = False
                if not ok:
                    raise UserError('BVH: motion value %r is not a finite number' % w, '%s:%d' % (path, ln),
                                    _fix_hint())
    return Bvh(path, out['names'], out['parents'], out['offsets'], out['channels'], out['lines'],
               frame_time, motion, row_lines)


def load_bvh(path):
    """Read and parse a BVH file (UserError if it is missing or malformed)."""
    path = os.fspath(path)
    try:
        with open(path, 'r', encoding='utf-8', errors='replace') as f:
            text = f.read()
    except OSError as e:
        raise UserError('cannot read BVH file (%s)' % (e.strerror or e), path, 'check the path') from None
    return parse_bvh(text, path)


def h36m17_positions(bvh, fps=None, mapping=None, extra=()):
    """The 17 H36M joints (F', 17, 3) in v3d order, and the ``extra`` joints (F', E, 3).

    Positions are in the file's units and axes, resampled to ``fps`` if given.
    ``mapping``: a :class:`lib.prep.skeletons.Skeleton` or its table of (name, (bvh joint,
    ...)) pairs; default: the preset detected from the file's joint names.  Each joint is the
    mean of its BVH joints; a ``Head`` without BVH joints is placed by the head-top rule
    (:func:`lib.prep.skeletons.head_top`).  A BVH joint missing from the file raises a
    UserError that points at the file's hierarchy.  Returns ``(joints17, extra_positions)``.
    """
    if mapping is None:
        mapping = detect_skeleton(bvh.names, '%s:%d' % (bvh.path, bvh.lines[0]))
    table = getattr(mapping, 'table', mapping)
    needed = []
    for n in [n for _, src in table for n in src] + list(extra):
        if n not in needed:
            bvh.index(n)
            needed.append(n)
    pos = bvh.positions(needed, fps=fps)
    col = {n: k for k, n in enumerate(needed)}
    joints = [pos[:, [col[n] for n in src]].mean(axis=1) if src else None for _, src in table]
    names = [n for n, _ in table]
    if joints[names.index(HEAD)] is None:
        joints[names.index(HEAD)] = head_top(joints[names.index('Neck/Nose')], joints[names.index('Thorax')])
    return np.stack(joints, axis=1), pos[:, [col[n] for n in extra]]


def moving_joints(bvh, tol=1e-6):
    """(rotates, translates): (J,) bool, whether each joint's rotation / translation changes over the clip."""
    rot = np.zeros(len(bvh.names), bool)
    trans = np.zeros(len(bvh.names), bool)
    for j, chans in enumerate(bvh.channels):
        for ci, ch in enumerate(chans):
            col = bvh.motion[:, bvh.channel_start[j] + ci]
            if np.ptp(col) > tol:
                (trans if ch.lower() in _POS_AXES else rot)[j] = True
    return rot, trans


def rigid_together(bvh, joints, moving=None):
    """Whether the hierarchy keeps the joints (names) at fixed distances from one another over the clip.

    Relative to their lowest common ancestor A, a joint's position depends on the translation
    of every joint on the path below A down to it and on the rotation of every joint strictly
    between A and it; they are rigid together when none of these changes in the clip.
    """
    rot, trans = moving_joints(bvh) if moving is None else moving
    paths = []
    for n in dict.fromkeys(joints):
        j, path = bvh.index(n), []
        while j >= 0:
            path.append(j)
            j = int(bvh.parents[j])
        paths.append(path[::-1])                      # root ... joint
    if len({p[0] for p in paths}) > 1:
        return False                                  # under different roots
    depth = 0
    while all(len(p) > depth + 1 for p in paths) and len({p[depth + 1] for p in paths}) == 1:
        depth += 1                                    # paths[.][depth] is the common ancestor
    for p in paths:
        below = p[depth + 1:]
        if any(trans[j] for j in below) or any(rot[j] for j in below[:-1]):
            return False
    return True
