"""BVH skeletons -> the 17 Human3.6M joints: built-in presets, their detection, ``--joint-map``
files and the head-top rule.

A *joint table* is a tuple of ``(h36m joint, (bvh joint, ...))`` pairs in v3d order
(:data:`lib.data.skeleton.V3D_NAMES`): each H36M joint is the mean of its BVH joints, and
``Head`` with no BVH joint (``()``) is placed by the head-top rule.

Presets (:data:`PRESETS`) are the namings of public collections; a preset's names may carry a
prefix (``mixamorig:Hips``, ``Character1_Hips``): the prefix is whatever precedes the preset's
``Hip`` joint name in the file, and every other name must carry the same prefix.

The head-top rule
-----------------
The H36M ``Head`` joint is the top of the head.  A skeleton without such a joint (the Bandai
Namco and LAFAN1 namings: the head's End Site is at the head joint, or missing) gets it from
two joints every humanoid skeleton has, the mapped ``Thorax`` (T, base of the neck) and
``Neck/Nose`` (N, the head joint)::

    Head = N + HEAD_TOP_K * (N - T)

the neck bone continued beyond the head joint, by :data:`HEAD_TOP_K` times its length.  Every
preset and joint map without a ``Head`` entry uses this one rule; the point is rigidly attached
to the neck bone, so the Neck/Nose -> Head bone is as rigid as Thorax -> Neck/Nose.  The
constant was fitted (least squares along the neck direction) on the CMU-derived clips, where a
real head point exists (the mean of ``leftEye`` and ``rightEye``): ``python
tools/measure_head_top.py`` refits it and gives the errors (docs/BVH_SKELETONS.md).
"""
import difflib
import os

import yaml

from lib.data.skeleton import V3D_NAMES
from lib.utils.errors import UserError

HEAD = 'Head'
#: the head-top rule's constant (see the module docstring); fitted on all 20 CMU-derived clips
#: of ../shared/data/mocap_bvh by ``python tools/measure_head_top.py``
HEAD_TOP_K = 1.26

#: The CMU-derived naming (``../shared/data/mocap_bvh``).  ``chest`` (not ``abdomen``) is the
#: Spine so that the Hip->Spine bone has a constant length; the head top is the eyes' midpoint.
CMU_TO_H36M17 = (
    ('Hip', ('hip',)),
    ('RHip', ('rThigh',)),
    ('RKnee', ('rShin',)),
    ('RAnkle', ('rFoot',)),
    ('LHip', ('lThigh',)),
    ('LKnee', ('lShin',)),
    ('LAnkle', ('lFoot',)),
    ('Spine', ('chest',)),
    ('Thorax', ('neck',)),
    ('Neck/Nose', ('head',)),
    ('Head', ('leftEye', 'rightEye')),
    ('LShoulder', ('lShldr',)),
    ('LElbow', ('lForeArm',)),
    ('LWrist', ('lHand',)),
    ('RShoulder', ('rShldr',)),
    ('RElbow', ('rForeArm',)),
    ('RWrist', ('rHand',)),
)


def _table(hip, spine, thorax, nose, head, leg, arm):
    """A joint table from the trunk names and ``leg(side)`` / ``arm(side)`` -> (3 names), side 'L'/'R'."""
    out = {'Hip': hip, 'Spine': spine, 'Thorax': thorax, 'Neck/Nose': nose, 'Head': head}
    for side in 'RL':
        out.update(zip((side + 'Hip', side + 'Knee', side + 'Ankle'), leg(side)))
        out.update(zip((side + 'Shoulder', side + 'Elbow', side + 'Wrist'), arm(side)))
    return tuple((n, tuple([out[n]] if isinstance(out[n], str) else out[n])) for n in V3D_NAMES)


def _lr(side):
    return 'Left' if side == 'L' else 'Right'


#: name -> (joint table, one line about it).  Detection prefers, among the presets whose names a
#: file has, the one that maps the most BVH joints (Mixamo, with its HeadTop_End, over LAFAN1).
PRESETS = {
    'cmu': (CMU_TO_H36M17, 'CMU-derived BVH (hip, abdomen, chest, neck, head, leftEye, lShldr, rThigh, ...)'),
    'bandai': (_table('Hips', 'Chest', 'Neck', 'Head', (),
                      lambda s: ('UpperLeg_' + s, 'LowerLeg_' + s, 'Foot_' + s),
                      lambda s: ('UpperArm_' + s, 'LowerArm_' + s, 'Hand_' + s)),
               'Bandai Namco / Unity-humanoid naming (Hips, Spine, Chest, Neck, Head, UpperLeg_L, UpperArm_L, ...); '
               'head top by the rule'),
    'mixamo': (_table('Hips', 'Spine1', 'Neck', 'Head', 'HeadTop_End',
                      lambda s: (_lr(s) + 'UpLeg', _lr(s) + 'Leg', _lr(s) + 'Foot'),
                      lambda s: (_lr(s) + 'Arm', _lr(s) + 'ForeArm', _lr(s) + 'Hand')),
               'Mixamo (mixamorig:Hips, mixamorig:Spine1, ..., mixamorig:HeadTop_End; any prefix or none)'),
    'lafan1': (_table('Hips', 'Spine1', 'Neck', 'Head', (),
                      lambda s: (_lr(s) + 'UpLeg', _lr(s) + 'Leg', _lr(s) + 'Foot'),
                      lambda s: (_lr(s) + 'Arm', _lr(s) + 'ForeArm', _lr(s) + 'Hand')),
               'Ubisoft LAFAN1 (Hips, LeftUpLeg, LeftLeg, LeftFoot, Spine, Spine1, Spine2, Neck, Head, LeftArm, ...); '
               'head top by the rule; also a Mixamo file without HeadTop_End'),
}
for _name, (_t, _) in PRESETS.items():
    assert [n for n, _ in _t] == V3D_NAMES, _name


class Skeleton:
    """A resolved joint table: ``name`` (preset or joint-map file), ``table`` (v3d-order pairs,
    prefix applied; ``Head`` -> () for the head-top rule)."""

    def __init__(self, name, table, source='preset'):
        self.name = name
        self.table = tuple((n, tuple(src)) for n, src in table)
        self.source = source

    @property
    def head_rule(self):
        return not dict(self.table)[HEAD]

    def bvh_joints(self):
        """The distinct BVH joints of the table, in table order."""
        return list(dict.fromkeys(n for _, src in self.table for n in src))

    def label(self):
        return self.name + (' (head top by the rule)' if self.head_rule else '')


def _prefixed(table, prefix):
    return tuple((n, tuple(prefix + s for s in src)) for n, src in table)


def _fit(preset, names):
    """(missing BVH names, Skeleton) of ``preset`` against the file's joint ``names``, with the best prefix."""
    table = PRESETS[preset][0]
    hip = dict(table)['Hip'][0]
    have = set(names)
    best = None
    for prefix in sorted({n[:-len(hip)] for n in names if n.endswith(hip)} | {''}):
        sk = Skeleton(preset, _prefixed(table, prefix))
        missing = [n for n in sk.bvh_joints() if n not in have]
        if best is None or len(missing) < len(best[0]):
            best = (missing, sk)
    return best


def preset_skeleton(preset, names, where):
    """The preset ``preset`` (forced with ``--skeleton``) on a file with joint ``names``."""
    if preset not in PRESETS:
        raise UserError('unknown --skeleton %r' % preset, '--skeleton',
                        'use one of %s, or describe the skeleton with --joint-map FILE.yaml' % ', '.join(PRESETS))
    missing, sk = _fit(preset, names)
    if missing:
        raise UserError('BVH lacks the joint(s) %s of --skeleton %s' % (', '.join(missing), preset), where,
                        'leave --skeleton out to detect the skeleton, or map it with --joint-map FILE.yaml; '
                        'the file has: %s' % ', '.join(names))
    return sk


def detect_skeleton(names, where):
    """The preset whose names the file has (the one mapping the most BVH joints); else a UserError
    naming the closest preset and what it lacks."""
    fits = {p: _fit(p, names) for p in PRESETS}
    ok = [p for p in PRESETS if not fits[p][0]]
    if ok:
        return fits[max(ok, key=lambda p: len(fits[p][1].bvh_joints()))][1]
    closest = min(PRESETS, key=lambda p: len(fits[p][0]))
    raise UserError('the BVH skeleton fits no preset; the closest, %s, lacks %s'
                    % (closest, ', '.join(fits[closest][0])), where,
                    'describe it with --joint-map FILE.yaml (keys: the 17 joints %s; values: a BVH joint name or '
                    'a list of names; see docs/BVH_SKELETONS.md); the file has: %s'
                    % (', '.join(V3D_NAMES), ', '.join(names)))


def load_joint_map(path):
    """The Skeleton described by the YAML joint map ``path`` (see docs/BVH_SKELETONS.md)."""
    hint = 'keys: the 17 joints %s (Head may be left out); values: a BVH joint name or a list of names' \
        % ', '.join(V3D_NAMES)
    if not os.path.isfile(path):
        raise UserError('joint map file not found', path, 'pass an existing YAML file with --joint-map')
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as e:
        mark = getattr(e, 'problem_mark', None)
        where = path if mark is None else '%s:%d' % (path, mark.line + 1)
        raise UserError('malformed YAML in the joint map (%s)' % getattr(e, 'problem', 'parse error'), where,
                        'fix the YAML syntax; ' + hint) from None
    if not isinstance(data, dict) or not data:
        raise UserError('a joint map must be a mapping of H36M joint names to BVH joint names', path, hint)
    unknown = [str(k) for k in data if k not in V3D_NAMES]
    if unknown:
        close = difflib.get_close_matches(unknown[0], V3D_NAMES, n=1, cutoff=0.5)
        raise UserError('unknown key(s) %s in the joint map' % ', '.join(repr(k) for k in unknown), path,
                        ('did you mean %s? ' % close[0] if close else '') + hint)
    table = []
    for n in V3D_NAMES:
        v = data.get(n)
        if n not in data and n == HEAD:
            table.append((n, ()))
            continue
        if n not in data:
            continue
        names = [v] if isinstance(v, str) else v
        if not isinstance(names, list) or not names or not all(isinstance(s, str) and s.strip() for s in names):
            raise UserError('joint map key %r: expected a BVH joint name or a non-empty list of names, got %r'
                            % (n, v), path, hint)
        table.append((n, tuple(s.strip() for s in names)))
    missing = [n for n in V3D_NAMES if n != HEAD and n not in data]
    if missing:
        raise UserError('the joint map lacks %s (it has %s)' % (', '.join(missing), ', '.join(map(str, data))),
                        path, 'give every one of the 17 joints but Head (' + hint + ')')
    return Skeleton('joint map %s' % os.path.basename(path), table, source=path)


def check_joint_map(skeleton, names, where):
    """UserError if the file (joint ``names``) lacks a BVH joint that the joint map names."""
    missing = [n for n in skeleton.bvh_joints() if n not in set(names)]
    if missing:
        raise UserError('BVH lacks the joint(s) %s named by the joint map %s' % (', '.join(missing), skeleton.source),
                        where, 'fix the joint map; the file has: %s' % ', '.join(names))


def choose_skeleton(names, where, skeleton=None, joint_map=None):
    """The Skeleton of a file with joint ``names``: the joint map (a Skeleton), the forced preset
    ``skeleton``, or the detected preset."""
    if joint_map is not None:
        check_joint_map(joint_map, names, where)
        return joint_map
    if skeleton is not None:
        return preset_skeleton(skeleton, names, where)
    return detect_skeleton(names, where)


def head_top(nose, thorax, k=HEAD_TOP_K):
    """The head-top rule: (..., 3) Neck/Nose and Thorax -> the head top (see the module docstring)."""
    return nose + k * (nose - thorax)


def fit_head_top_k(nose, thorax, target):
    """The least-squares constant of the head-top rule: the k minimising sum |N + k (N - T) - target|^2
    over all frames, k = sum((target - N) . (N - T)) / sum(|N - T|^2).  Arrays (..., 3)."""
    d = (nose - thorax).reshape(-1, 3)
    return float(((target - nose).reshape(-1, 3) * d).sum() / (d * d).sum())
