#!/usr/bin/env python
"""Convert motion data to the VideoPose3D-style archives this project reads.

Subcommands
-----------
``bvh``: BVH motion capture -> ``data_3d_<name>.npz`` + ``data_2d_<name>_gt.npz``::

    python tools/prepare_data.py bvh --src DIR --out DIR --name NAME \\
        [--fps 50] [--test-subjects A B ...] [--camera-subject S9] [--min-seconds 2] \\
        [--skeleton cmu|bandai|mixamo|lafan1 | --joint-map FILE.yaml]

Every sub-folder of ``--src`` is one pseudo-subject named after the folder; its
``.bvh`` files are its actions.  ``--test-subjects`` (at least one) form the test
split, the other subjects the training split.  The clips are mapped to the 17
H36M joints (each file's skeleton detected among the presets of
``lib/prep/skeletons.py``, or forced with ``--skeleton``, or described by a
``--joint-map`` YAML file: docs/BVH_SKELETONS.md), resampled to ``--fps``, placed where the four Human3.6M cameras of
``--camera-subject`` see them, cut to their in-view runs of at least
``--min-seconds``, verified and written atomically: see ``lib/prep/bvh_convert.py``
for each step and ``lib/prep/archive_check.py`` for the checks.

Both write the training split's scale prior ``scale_prior_<name>.json`` beside the data
(``lib/data/scale_prior.py``), which ``DATA.SCALE_MID_MEAN: auto`` reads.

``prior``: that file for a dataset already in a folder (the authors' h5 files, say)::

    python tools/prepare_data.py prior --data-dir data --name h36m

``layout``: a ``data_3d_<name>.npz`` archive -> the authors' MPI-INF-3DHP or
SURREAL files (``mpi_{train,valid}_pred3.h5`` / ``surreal_...``)::

    python tools/prepare_data.py layout --src datasets/quickstart/data_3d_quickstart.npz \\
        --dataset mpi --out data/mpi_demo
"""
import _init_paths  # noqa: F401
import argparse
import math
import os

from lib.data.scale_prior import write_for_dataset
from lib.prep.bvh_convert import convert_bvh_tree
from lib.prep.layouts import archives_to_layout
from lib.prep.skeletons import PRESETS
from lib.utils.errors import ArgumentParser, UserError, run_main
from lib.utils.outputs import check_output_dir
from lib.utils.runtime import cli_path


def convert_bvh(args):
    """``bvh``: a folder of BVH clips -> data_3d_<name>.npz + data_2d_<name>_gt.npz."""
    convert_bvh_tree(cli_path(args.src), cli_path(args.out), args.name, args.fps, args.test_subjects,
                     args.camera_subject, args.min_seconds, force=args.force, skeleton=args.skeleton,
                     joint_map=cli_path(args.joint_map) if args.joint_map else None)
    return 0


def convert_layout(args):
    """``layout``: a data_3d_<name>.npz archive -> the authors' MPI-INF-3DHP or SURREAL h5 files."""
    src = cli_path(args.src)
    if not os.path.isfile(src):
        raise UserError('3D archive not found', src, 'pass a data_3d_<name>.npz written by tools/prepare_data.py bvh')
    if args.distance is not None and not (math.isfinite(args.distance) and 0 < args.distance <= 40):
        raise UserError('--distance must be in (0, 40] metres, got %g' % args.distance, '--distance',
                        'omit it (4.5 m for mpi, 6 m for surreal) or give e.g. 5')
    out = check_output_dir(cli_path(args.out), '--out', inputs=[src], force=args.force,
                           will_write=['%s_%s_pred3.h5' % (args.dataset, s) for s in ('train', 'valid')]
                           + ['scale_prior_%s.json' % args.dataset])
    for split, (path, n) in archives_to_layout(src, args.dataset, out, args.distance).items():
        print('%s: %d frames -> %s' % (split, n, path))
    write_for_dataset(out, args.dataset)
    return 0


def write_prior(args):
    """``prior``: the scale prior of a dataset already in DATA_DIR -> scale_prior_<name>.json."""
    data_dir = cli_path(args.data_dir)
    if not os.path.isdir(data_dir):
        raise UserError('data folder not found', data_dir, 'pass --data-dir with the dataset\'s files')
    check_output_dir(data_dir, '--data-dir', force=args.force, will_write=['scale_prior_%s.json' % args.name])
    write_for_dataset(data_dir, args.name, use_gt=not args.detected)
    return 0


def build_parser():
    parser = ArgumentParser(description=__doc__.split('\n')[0],
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', metavar='COMMAND', parser_class=ArgumentParser)
    sub.required = True
    p = sub.add_parser('bvh', help='BVH motion capture -> data_3d_<name>.npz + data_2d_<name>_gt.npz',
                       description='Convert BVH clips (one sub-folder of --src per pseudo-subject) to the '
                                   'VideoPose3D-style archives, seen by real Human3.6M cameras.')
    p.add_argument('--src', required=True, help='folder with one sub-folder of .bvh files per subject')
    p.add_argument('--out', required=True, help='output folder')
    p.add_argument('--name', required=True, help='dataset name: files data_3d_<name>.npz, data_2d_<name>_gt.npz')
    p.add_argument('--fps', type=float, default=50, help='output frame rate (default 50)')
    p.add_argument('--test-subjects', nargs='*', default=[], metavar='SUBJECT',
                   help='sub-folders that form the test split (at least one; the others train)')
    p.add_argument('--camera-subject', default='S9', help='H36M subject whose 4 cameras see every clip (default S9)')
    p.add_argument('--min-seconds', type=float, default=2.0,
                   help='keep in-view runs at least this long (default 2 s)')
    p.add_argument('--skeleton', default=None, metavar='NAME',
                   help='force a skeleton preset (%s; default: detected per file)' % ', '.join(PRESETS))
    p.add_argument('--joint-map', default=None, metavar='FILE.yaml',
                   help='YAML file mapping the 17 H36M joints to BVH joint names (docs/BVH_SKELETONS.md)')
    p.add_argument('--force', action='store_true', help='replace archives of the same --name in --out')
    p.set_defaults(func=convert_bvh)
    q = sub.add_parser('layout', help='data_3d_<name>.npz -> mpi_/surreal_{train,valid}_pred3.h5 (authors\' layouts)',
                       description='Write the clips of a data_3d_<name>.npz archive in the authors\' MPI-INF-3DHP '
                                   'or SURREAL h5 layout, seen by a pinhole camera the size of that dataset\'s '
                                   'frames (lib/prep/layouts.py), to try those data paths.')
    q.add_argument('--src', required=True, help='data_3d_<name>.npz (its metadata gives the train/test subjects)')
    q.add_argument('--dataset', required=True, choices=('mpi', 'surreal'), help='layout to write')
    q.add_argument('--out', required=True, help='output folder (use it as DATA_DIR)')
    q.add_argument('--distance', type=float, default=None,
                   help='camera distance in metres (default 4.5 for mpi, 6 for surreal; farther if needed)')
    q.add_argument('--force', action='store_true', help='replace the layout\'s files already in --out')
    q.set_defaults(func=convert_layout)
    r = sub.add_parser('prior', help='the scale prior of a dataset in DATA_DIR -> scale_prior_<name>.json',
                       description='Compute the distribution of scale_mid on the training split of a dataset '
                                   '(lib/data/scale_prior.py) and store it beside the data, for '
                                   'DATA.SCALE_MID_MEAN / SCALE_MID_STD: auto. The bvh and layout commands '
                                   'write it themselves.')
    r.add_argument('--data-dir', required=True, help='the folder with the dataset (DATA_DIR)')
    r.add_argument('--name', required=True, help='DATA.DATASET_NAME (h36m, mpi, surreal, or a converted name)')
    r.add_argument('--detected', action='store_true', help='use the detected 2D (default: ground-truth 2D)')
    r.add_argument('--force', action='store_true', help='replace an existing scale_prior_<name>.json')
    r.set_defaults(func=write_prior)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == '__main__':
    run_main(main)
