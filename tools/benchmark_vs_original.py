"""Training and evaluation speed of this project against the authors' own code.

    python tools/benchmark_vs_original.py --device cpu --steps 10
    python tools/benchmark_vs_original.py --device cpu --cfg ../shared/original/cfg/h36m_gt_adv.yaml --width 256
    python tools/benchmark_vs_original.py --device cuda --steps 200

Both sides train with one of the authors' YAMLs (default: their
h36m_gt_scale.yaml, from ../shared/original or $AUTHORS_CODE_DIR) on the same
synthetic data in their h5 layout; see lib/parity/benchmark.py for what is
timed.  Prints each round, then steps/s of both and the ratio; the last line is
one JSON object (original_steps_per_s, project_steps_per_s, ratio = project over
original, eval_ratio, and the settings used).
"""
import _init_paths  # noqa: F401
import argparse
import json

from lib.utils.errors import ArgumentParser, run_main


def main(argv=None):
    p = ArgumentParser(description=__doc__.split('\n')[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default='cpu', choices=('cpu', 'cuda'))
    p.add_argument('--cfg', help='one of the authors\' YAMLs (default: their h36m_gt_scale.yaml)')
    p.add_argument('--authors-dir', help='the authors\' code (default ../shared/original or $AUTHORS_CODE_DIR)')
    p.add_argument('--steps', type=int, default=10, help='training steps per side and round (default 10)')
    p.add_argument('--rounds', type=int, default=2, help='rounds, alternating which side runs first (default 2)')
    p.add_argument('--width', type=int, default=0, help='NETWORK.NUM_CHANNELS (default: the config\'s)')
    p.add_argument('--batch-size', type=int, default=0, help='BATCH_SIZE (default: the config\'s)')
    p.add_argument('--train-frames', type=int, default=20000, help='synthetic training poses (default 20000)')
    p.add_argument('--test-frames', type=int, default=20000, help='synthetic test poses (default 20000)')
    p.add_argument('--threads', type=int, default=1, help='torch.set_num_threads (default 1)')
    p.add_argument('--opts', nargs=argparse.REMAINDER, default=[],
                   help='KEY VALUE overrides of the project\'s config only, e.g. COMPAT.FROZEN_KEEP_MOMENTUM true')
    args = p.parse_args(argv)
    from lib.parity.speed_vs_original import compare_speed     # loads torch
    res = compare_speed(args.cfg, args.device, args.steps, args.rounds, args.width, args.batch_size,
                        args.train_frames, args.test_frames, args.threads, args.authors_dir, args.opts)
    print(json.dumps(res))
    return 0


if __name__ == '__main__':
    run_main(main)
