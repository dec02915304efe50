"""Measure the head-top rule of lib/prep/skeletons.py on the CMU-derived clips, where a real head point exists.

    python tools/measure_head_top.py [--cmu ../shared/data/mocap_bvh] [--bandai ../shared/data/mocap_bvh_bandai]
                                     [--h36m ../shared/data/h36m_fixture/test_h36m_body3d.npz]

Prints the rule's constant fitted on all CMU clips with its (in-sample) error, the shipped
constant's error, held-out errors (fitted on the other folders), and the head-root / leg ratio
of CMU, Bandai Namco and Human3.6M for comparison (``lib/prep/head_top_study.py``).
"""
import _init_paths  # noqa: F401
import argparse
import os

from lib.prep.head_top_study import measure_head_top
from lib.utils.errors import run_main
from lib.utils.runtime import REPO_ROOT, cli_path

DATA = os.path.join(REPO_ROOT, '..', 'shared', 'data')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--cmu', default=os.path.join(DATA, 'mocap_bvh'), help='CMU-derived clips, one sub-folder each')
    p.add_argument('--bandai', default=os.path.join(DATA, 'mocap_bvh_bandai'), help='Bandai Namco clips (optional)')
    p.add_argument('--h36m', default=os.path.join(DATA, 'h36m_fixture', 'test_h36m_body3d.npz'),
                   help='the real Human3.6M frames (optional)')
    args = p.parse_args(argv)
    measure_head_top(cli_path(args.cmu), cli_path(args.bandai), cli_path(args.h36m))
    return 0


if __name__ == '__main__':
    run_main(main)
