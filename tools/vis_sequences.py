"""Animate the sequences of an evaluation: 2D input, predicted 3D over the ground truth, per-frame error.

    python tools/vis_sequences.py --pred output/quickstart/predictions.npz
    python tools/vis_sequences.py --pred output/mpi/eval_model_best/mpi_valid_pred_3d.h5 --seq TS1 TS2 --out vis/

Reads ``predictions.npz`` or the authors' ``<dataset>_valid_pred_3d.h5``, both
written by ``tools/main.py --eval`` (see ``lib/vis/sequences.py`` for what is
read and how). Writes one ``<sequence>.gif`` (``--format mp4``: ``.mp4`` through
OpenCV, no system ffmpeg needed; without OpenCV a ``.gif`` and one line saying why)
per sequence into ``--out``, atomically. Without ``--seq`` the
first ``--num-seqs`` sequences of the file are drawn (the authors' plot
scripts' ``--seq_num``). Exit status 2 with one ``error:`` line for bad input.
"""
import _init_paths  # noqa: F401
import os

from lib.utils.errors import ArgumentParser, UserError, run_main
from lib.utils.runtime import REPO_ROOT, cli_path


def parse_args(argv=None):
    p = ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--pred', required=True, help='predictions.npz or <dataset>_valid_pred_3d.h5')
    p.add_argument('--seq', nargs='+', metavar='NAME', help='sequences to draw (exact name or unique substring)')
    p.add_argument('--num-seqs', type=int, default=1, help='without --seq: the first N sequences (default 1)')
    p.add_argument('--out', default=os.path.join(REPO_ROOT, 'vis'), help='output folder (default <repo>/vis)')
    p.add_argument('--max-frames', type=int, default=60, help='subsample longer sequences to N frames (default 60)')
    p.add_argument('--fps', type=float, default=10, help='frames per second of the animation (default 10)')
    p.add_argument('--format', choices=('gif', 'mp4'), default='gif',
                   help='gif (Pillow) or mp4 (OpenCV, requirements-media.txt; without it a GIF)')
    p.add_argument('--force', action='store_true', help='replace animations of the same name in --out')
    args = p.parse_args(argv)
    if not (1 <= args.max_frames <= 10000 and 1 <= args.num_seqs <= 10000):
        raise UserError('--max-frames and --num-seqs must be 1 to 10000', '--max-frames/--num-seqs', 'see --help')
    if not 0.1 <= args.fps <= 100:        # a GIF frame lasts 0.01 s to 655 s
        raise UserError('--fps must be 0.1 to 100, got %g' % args.fps, '--fps', 'use e.g. --fps 10')
    return args


def main(argv=None):
    args = parse_args(argv)
    from lib.vis.sequence_anim import render_sequences      # loads matplotlib
    render_sequences(cli_path(args.pred), cli_path(args.out), args.seq, args.num_seqs, args.max_frames,
                     args.fps, args.format, force=args.force)
    return 0


if __name__ == '__main__':
    run_main(main)
