"""Training and evaluation speed, measured against the model's own compute floor.

    python tools/benchmark_speed.py --device cpu --scale 0.01          # a quick look on a CPU
    python tools/benchmark_speed.py --device cuda --scale 1.0          # Human3.6M's full size

What is measured (floor, pipeline, evaluation, peak memory) and the JSON line it ends with:
lib/bench/speed.py.  The network is the config's (default cfg/pre_tmc_klbone.yaml: 1024
channels, 4 lifter blocks, scaler, TMC and the alternating scheme, batch 1024), trained from
scratch on random weights; ``--opts TRAIN.AMP true`` / ``TRAIN.COMPILE true`` measure those.
On a CPU shared with other work, ``--threads 1`` gives steadier figures (docs/PERFORMANCE.md).
"""
import _init_paths  # noqa: F401
import argparse

from lib.utils.errors import ArgumentParser, UserError, run_main


def parse_args(argv=None):
    p = ArgumentParser(description=__doc__.split('\n')[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default=None, choices=('cpu', 'cuda'), help='default: cuda when available')
    p.add_argument('--scale', type=float, default=1.0, help='fraction of Human3.6M\'s size (default 1.0)')
    p.add_argument('--cfg', default='cfg/pre_tmc_klbone.yaml', help='config giving the network and losses')
    p.add_argument('--batch-size', type=int, default=0, help='override BATCH_SIZE (default: the config\'s)')
    p.add_argument('--steps', type=int, default=0,
                   help='steps per round for floor and pipeline each, rounded up to whole periods of the '
                        'schedule (default: one period on CPU, 200 on CUDA)')
    p.add_argument('--rounds', type=int, default=4,
                   help='floor / pipeline rounds, in alternating order (default 4; use an even number)')
    p.add_argument('--eval-poses', type=int, default=0,
                   help='evaluate only the first N test poses (default: the whole test split)')
    p.add_argument('--eval-precision', choices=('fp32', 'bf16', 'both'), default='both',
                   help='evaluation precision(s) to time: the headline figure is EVAL.PRECISION\'s '
                        '(default fp32), "both" (default) also times the other')
    p.add_argument('--threads', type=int, default=0, help='torch.set_num_threads (default: torch\'s choice)')
    p.add_argument('--opts', nargs=argparse.REMAINDER, default=[],
                   help='KEY VALUE config overrides, e.g. TRAIN.AMP true TRAIN.COMPILE true')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import torch

    from lib.bench import speed as S  # loads torch
    from lib.train.state import seed_everything  # loads torch
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            raise UserError('--device cuda but CUDA is not available', '--device', 'use --device cpu')
        device = torch.device('cuda', torch.cuda.current_device())
    cfg = S.build_config(args.cfg, args.batch_size, args.opts)
    torch.backends.cudnn.benchmark = cfg.CUDNN.BENCHMARK
    seed_everything(cfg.RANDOM_SEED)
    S.print_setup(cfg, device, args.cfg)
    out = S.benchmark(cfg, device, args.scale, args.steps, args.rounds,
                      S.eval_precisions(cfg, args.eval_precision), args.eval_poses, args.cfg)
    S.report(out)
    return 0


if __name__ == '__main__':
    run_main(main)
