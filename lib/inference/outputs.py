"""What the demo and the LSP evaluation write: strict, diff-able JSON, the units of its 3D, file stems."""
import json
import os


#: what the lifted 3D joints in the demo's and the LSP evaluation's JSON files are
UNITS = ('root-centred camera frame (x right, y down, z forward), network units: '
         'Human3.6M head-root length is about 1')


def json_text(obj):
    """JSON with one top-level key per line and each value on that line (compact, diff-able)."""
    if not isinstance(obj, dict):
        return json.dumps(obj, allow_nan=False) + '\n'
    # allow_nan=False: strict JSON (no bare NaN / Infinity); the writers refuse non-finite values first
    rows = ['  %s: %s' % (json.dumps(str(k)), json.dumps(v, separators=(', ', ': '), allow_nan=False))
            for k, v in obj.items()]
    return '{\n' + ',\n'.join(rows) + '\n}\n'


def output_stems(paths):
    """Output stem per input: the file stem, or stem_ext when two inputs share a stem."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    out = []
    for p, s in zip(paths, stems):
        if stems.count(s) > 1:
            s = '%s_%s' % (s, os.path.splitext(p)[1].lstrip('.').lower())
        out.append(s)
    return out
