"""Measure the offline 2D detector (MediaPipe) against reference 2D keypoints.

    python tools/measure_detector.py [--demo scripts/demo_input] [--lsp ../shared/data/lsp_sample] [--limit N]

Prints, for the authors' demo images (their own 2D in the ``.pkl``) and for the
LSP sample (its annotations, annotated joints only): in how many images a
person was found, and the fraction of the 12 limb joints within 0.2 torso
lengths of the reference (``lib/inference/detector_eval.py``); for LSP also the
median head-top error of the mapping's head-top rule.
"""
import _init_paths  # noqa: F401
import os
import sys

from tqdm import tqdm

from lib.inference.detector_eval import measure_detector
from lib.utils.errors import ArgumentParser, run_main
from lib.utils.runtime import REPO_ROOT, cli_path


def main(argv=None):
    p = ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--demo', default=os.path.join(REPO_ROOT, 'scripts', 'demo_input'))
    p.add_argument('--lsp', default=os.path.join(REPO_ROOT, '..', 'shared', 'data', 'lsp_sample'))
    p.add_argument('--limit', type=int, default=None, help='first N LSP images (default all)')
    args = p.parse_args(argv)
    measure_detector(cli_path(args.demo), cli_path(args.lsp), args.limit,
                     progress=lambda it: tqdm(it, desc='lsp', disable=not sys.stderr.isatty()))
    return 0


if __name__ == '__main__':
    run_main(main)
