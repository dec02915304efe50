"""Measure the offline 2D detector (MediaPipe) against reference 2D keypoints.

    python tools/measure_detector.py [--demo scripts/demo_input] [--lsp ../shared/data/lsp_sample] [--limit N]

Prints, for the authors' demo images (their own 2D in the ``.pkl``) and for the
LSP sample (its annotations, annotated joints only): in how many images a
person was found, and the fraction of the 12 limb joints within 0.2 torso
lengths of the reference (``lib/core/detector_eval.py``); for LSP also the
median head-top error of the mapping's head-top rule.
"""
import argparse
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from lib.core.detector_eval import demo_agreement, lsp_agreement  # noqa: E402
from lib.data.detector import PoseDetector  # noqa: E402
from lib.utils.errors import UserError, run_main  # noqa: E402
from lib.utils.runtime import cli_path  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--demo', default=os.path.join(REPO, 'scripts', 'demo_input'))
    p.add_argument('--lsp', default=os.path.join(REPO, '..', 'shared', 'data', 'lsp_sample'))
    p.add_argument('--limit', type=int, default=None, help='first N LSP images (default all)')
    args = p.parse_args(argv)
    demo, lsp_root = cli_path(args.demo), cli_path(args.lsp)
    if not os.path.isdir(demo) and not os.path.isdir(lsp_root):
        raise UserError('neither the demo folder nor the LSP sample exists', '%s, %s' % (demo, lsp_root),
                        'pass --demo or --lsp')
    with PoseDetector() as det:
        if os.path.isdir(demo):
            t = time.time()
            acc = demo_agreement(det, demo)
            print(acc.line('authors\' demo images') + ' [%.1f s]' % (time.time() - t))
            if acc.missed:
                print('  no person found in: ' + ', '.join(acc.missed))
        if os.path.isdir(lsp_root):
            t = time.time()
            acc = lsp_agreement(det, lsp_root, args.limit,
                                progress=lambda it: tqdm(it, desc='lsp', disable=not sys.stderr.isatty()))
            print(acc.line('LSP sample') + ' [%.1f s]' % (time.time() - t))
            if acc.head_errors:
                print('  head top (rule from ears and shoulders): median error %.3f torso lengths over %d images'
                      % (float(np.median(acc.head_errors)), len(acc.head_errors)))
    return 0


if __name__ == '__main__':
    run_main(main)
