"""Lift the Leeds Sports Pose annotations to 3D and draw every result.

    python tools/eval_lsp.py --cfg cfg/h36m_gt_scale.yaml --pretrain models/tmc_klbone.pth.tar
    cd tools && python eval_lsp.py --cfg ../cfg/h36m_gt_scale.yaml --pretrain ../models/tmc_klbone.pth.tar --limit 50

There is no 3D ground truth for LSP: this is a qualitative check of how a
model trained on Human3.6M generalises to in-the-wild poses, as the authors'
eval_lsp.py (docs/ORIGINAL.md, "LSP and the demo").  ``--lsp-root`` is a folder
with ``joints.mat`` and ``images/``; it
defaults to ``<repo>/data/lsp`` when that exists, else to the 400-image sample
``<repo>/../shared/data/lsp_sample``.  Both joints.mat layouts (LSP and LSP
extended) are read; see ``lib/inference/lsp.py`` for the visibility flags, the
missing-joint policy (skip an image without both hips, both shoulders and the
head top; fill and flag other missing joints) and the normalisation
(isotropic by default, the original's x/55, y/90 with COMPAT.LSP_ANISOTROPIC).

Writes into ``--out`` (default ``<repo>/vis/lsp``), atomically:

* ``<stem>.png``: the image with its 2D skeleton beside the 3D lift (two views),
* ``<stem>.json``: the 3D joints (ours and v3d order), the scale, the filled joints,
* ``index.html``: thumbnails linking to the figures, then the skipped and
  failed images with their reasons,
* ``contact_sheet.png``: the first ``--sheet`` figures tiled.

Exit status: 0; 2 for bad input (a bad option, config, checkpoint or
joints.mat; or any image that failed: missing or unreadable).
"""
import _init_paths  # noqa: F401
import argparse
import os

from lib.inference.lsp_eval import default_lsp_root, run_lsp_eval
from lib.utils.errors import ArgumentParser, UserError, run_main
from lib.utils.runtime import REPO_ROOT, cli_path


def parse_args(argv):
    p = ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--cfg', help='YAML config the model was trained with (default: the one stored in the '
                   'checkpoint; the authors\' checkpoints store none)')
    p.add_argument('--pretrain', help='checkpoint; default: the authors\' models/tmc_klbone.pth.tar, else '
                   'the shipped scripts/demo_model/demo.pth.tar (lib/inference/model_choice.py)')
    p.add_argument('--lsp-root', help='folder with joints.mat and images/ (default %s)'
                   % os.path.relpath(default_lsp_root(), REPO_ROOT))
    p.add_argument('--out', default=os.path.join(REPO_ROOT, 'vis', 'lsp'),
                   help='output folder (default <repo>/vis/lsp)')
    p.add_argument('--gpu', default='-1', help='CUDA device index; -1 = CPU (default)')
    p.add_argument('--threads', type=int, metavar='N',
                   help='CPU threads (default: THREADS in the config, else $OMP_NUM_THREADS, else 1)')
    p.add_argument('--limit', type=int, help='only the first N images of joints.mat')
    p.add_argument('--batch-size', type=int, default=256, help='poses per forward pass')
    p.add_argument('--sheet', type=int, default=48, help='figures on contact_sheet.png (default 48)')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    p.add_argument('--force', action='store_true',
                   help='write into a non-empty --out (files of the same name are replaced, others kept)')
    p.add_argument('--verbose', action='store_true',
                   help='also print the thread count and the unused keys the authors\' configs set')
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        raise UserError('--limit must be at least 1, got %d' % args.limit, '--limit', 'omit it for all images')
    if not 1 <= args.batch_size <= 1000000:
        raise UserError('--batch-size must be 1 to 1000000', '--batch-size', 'use e.g. 256')
    if not 0 <= args.sheet <= 10000:
        raise UserError('--sheet must be 0 to 10000', '--sheet', 'use e.g. 48, or 0 for no contact sheet')
    return args


def main(argv=None):
    args = parse_args(argv)
    return run_lsp_eval(cli_path(args.out), cli_path(args.pretrain), cli_path(args.cfg), cli_path(args.lsp_root),
                        args.gpu, args.threads, args.limit, args.batch_size, args.sheet, args.quiet,
                        args.force, args.verbose)


if __name__ == '__main__':
    run_main(main)
