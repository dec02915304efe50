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
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from lib.parity.benchmark import Sides, measure  # noqa: E402
from lib.parity.original import find_authors_dir, load_authors_code  # noqa: E402
from lib.utils.errors import UserError, run_main  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
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
    args = p.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise UserError('--device cuda but CUDA is not available', '--device', 'use --device cpu')
    root = find_authors_dir(args.authors_dir)
    if root is None:
        load_authors_code(args.authors_dir)          # raises the one-line error naming the folder
    cfg_path = args.cfg or os.path.join(root, 'cfg', 'h36m_gt_scale.yaml')
    if not os.path.isfile(cfg_path):
        raise UserError('config file not found', cfg_path, 'pass one of the authors\' YAMLs with --cfg')
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print('device %s, torch %s, %d threads (torch.set_num_threads)' % (device, torch.__version__,
                                                                       torch.get_num_threads()))
    sides = Sides(cfg_path, device, args.width, args.batch_size, args.train_frames, args.test_frames,
                  args.authors_dir)
    try:
        cfg = sides.cfg
        print('config %s: batch %d, %d channels, USE_CYCLE %s, USE_SCALER %s, USE_NEW_TEMP %s; %d training, '
              '%d test poses' % (cfg_path, cfg.BATCH_SIZE, cfg.NETWORK.NUM_CHANNELS, cfg.TRAIN.USE_CYCLE,
                                 cfg.TRAIN.USE_SCALER, cfg.TRAIN.USE_NEW_TEMP, len(sides.data), len(sides.test)))
        res = measure(sides, args.steps, args.rounds)
    finally:
        sides.close()
    print('training: original %.3f steps/s, project %.3f steps/s, ratio %.3f' % (
        res['original_steps_per_s'], res['project_steps_per_s'], res['ratio']))
    print('evaluation: original %.0f poses/s, project %.0f poses/s, ratio %.3f' % (
        res['original_eval_poses_per_s'], res['project_eval_poses_per_s'], res['eval_ratio']))
    res.update({'cfg': cfg_path, 'device': args.device, 'threads': torch.get_num_threads(),
                'steps': args.steps, 'rounds': args.rounds, 'batch_size': cfg.BATCH_SIZE,
                'width': cfg.NETWORK.NUM_CHANNELS, 'train_poses': len(sides.data), 'test_poses': len(sides.test)})
    print(json.dumps(res))
    return 0


if __name__ == '__main__':
    run_main(main)
