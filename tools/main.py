"""Train or evaluate a lifting model.

    python tools/main.py --cfg cfg/h36m_gt_adv.yaml --gpu 0                      # train
    python tools/main.py --cfg cfg/h36m_gt_adv.yaml --eval --pretrain models/adv.pth.tar
    python tools/main.py --eval --pretrain output/quickstart/model_best.pth.tar   # config stored in it
    cd tools && python main.py --cfg ../cfg/pre_adv.yaml --gpu 0                # as the original README
    python tools/main.py --cfg cfg/quickstart.yaml --resume                      # continue a run
    torchrun --nproc_per_node 2 tools/main.py --cfg ...                          # several processes

Paths inside a config are relative to tools/ (as in the original); paths on
the command line are relative to the current directory.  Without --cfg, --pretrain
names a checkpoint of this project and the config stored in it is used (the
authors' checkpoints store none); the run is named after the checkpoint's folder.  The run itself is
``lib/train/run.py``; the training step is ``lib/train/step.py``.
"""
import _init_paths  # noqa: F401
import argparse
import os

from lib.config.load import load_run_config
from lib.utils.errors import ArgumentParser, UserError, run_main
from lib.utils.outputs import check_output_dir, check_output_file
from lib.utils.run_folder import FINISHED_RUN, check_free
from lib.utils.runtime import (apply_threads, cli_path, make_logger, one_line_warnings, resolve_threads, select_device,
                               timestamp)


def parse_args(argv=None):
    p = ArgumentParser(description='Unsupervised 2D-to-3D pose lifting (Yu et al., ICCV 2021).')
    p.add_argument('--cfg', help='YAML config (cfg/*.yaml); default with --pretrain: the config stored in '
                   'the checkpoint')
    p.add_argument('--gpu', default='0', help='CUDA device index, -1 for CPU (default 0)')
    p.add_argument('--eval', action='store_true', help='evaluate --pretrain on the test split and exit')
    p.add_argument('--pretrain', help='checkpoint to evaluate, or to warm-start training from')
    p.add_argument('--resume', nargs='?', const='auto', default=None,
                   help='continue from OUTPUT_DIR/<cfg>/checkpoint.pth.tar (or the given file)')
    p.add_argument('--model_dir', help='sets OUTPUT_DIR')
    p.add_argument('--data_dir', help='sets DATA_DIR')
    p.add_argument('--log_dir', help='sets LOG_DIR')
    p.add_argument('--debug', action='store_true', help='use debug_train.h5 / debug_valid.h5')
    p.add_argument('--use_gt', action='store_true', help='force ground-truth 2D input')
    p.add_argument('--use-ema', action='store_true', help='with --eval: use the EMA weights if present')
    p.add_argument('--save-final', metavar='PATH', help='copy the final checkpoint to PATH')
    p.add_argument('--quiet', action='store_true', help='no progress bar, warnings only')
    p.add_argument('--force', action='store_true',
                   help='replace the finished run (results, checkpoints) already in the output folder')
    p.add_argument('--verbose', action='store_true',
                   help='also print what goes only to the log file (e.g. the unused keys the authors\' configs set)')
    p.add_argument('--threads', type=int, metavar='N',
                   help='CPU threads (default: THREADS in the config, else $OMP_NUM_THREADS, else 1)')
    p.add_argument('--opts', nargs=argparse.REMAINDER, default=[],
                   help='KEY VALUE pairs overriding the config, e.g. TRAIN.NUM_EPOCHS 1')
    # accepted for compatibility with the original's command lines, and ignored
    for flag in ('--workers', '--dataset_name', '--print_interval', '--eval_suffix'):
        p.add_argument(flag, help=argparse.SUPPRESS)
    p.add_argument('--print_info', action='store_true', help=argparse.SUPPRESS)
    return p.parse_args(argv)


def check_inputs(args, cfg, out_dir):
    """Every path of the run checked before anything is printed or created: the data folder,
    the checkpoints named, the output and log folders.  Returns the --resume checkpoint or None."""
    if not os.path.isdir(cfg.DATA_DIR):
        raise UserError('data folder not found', cfg.DATA_DIR,
                        'set DATA_DIR (or --data_dir) to the folder with the data files')
    if args.pretrain and not os.path.isfile(cfg.TRAIN.LIFTER_PRETRAIN_PATH):
        raise UserError('checkpoint not found', cfg.TRAIN.LIFTER_PRETRAIN_PATH, 'check the --pretrain path')
    resume = None
    if args.resume is not None:
        resume = os.path.join(out_dir, 'checkpoint.pth.tar') if args.resume == 'auto' else cli_path(args.resume)
        if not os.path.isfile(resume):
            raise UserError('nothing to resume: no checkpoint', resume,
                            'start without --resume, or pass --resume PATH to a checkpoint.pth.tar')
    # a resumed run continues its own folder (lib/train/run.py checks, once the checkpoint is read,
    # that a checkpoint from elsewhere is of the run in the folder); no other run replaces a finished one
    finished = () if resume else (('results.json', 'predictions.npz') if args.eval else FINISHED_RUN)
    inputs = [] if args.eval or not args.pretrain else [cfg.TRAIN.LIFTER_PRETRAIN_PATH]
    check_output_dir(out_dir, 'OUTPUT_DIR', 'output folder (OUTPUT_DIR)', inputs=inputs, force=args.force,
                     finished=finished)
    if os.environ.get('RANK', '0') in ('', '0'):    # (rank 0 locks it: the other ranks of a torchrun leave it)
        check_free(out_dir)             # not while another run writes there (lib/utils/run_folder.py)
    if not args.eval:
        check_output_dir(cfg.LOG_DIR, 'LOG_DIR', 'log folder (LOG_DIR)')
        if args.save_final:
            check_output_file(cli_path(args.save_final), '--save-final', 'final checkpoint (--save-final)',
                              inputs=[cfg.TRAIN.LIFTER_PRETRAIN_PATH, resume], force=args.force)
    return resume


def own_folder(resume, out_dir):
    """True when ``resume`` is the checkpoint of the run in ``out_dir`` (it continues its own folder)."""
    return bool(resume) and os.path.abspath(os.path.dirname(resume)) == os.path.abspath(out_dir)


def check_warm_start(args, cfg, resume):
    """Configs that cannot train without a lifter to start from (a frozen lifter, a stage-2
    config): refused before anything is printed, naming the key, the path and the stage-1 run."""
    if args.eval or resume or not (cfg.TRAIN.FREEZE_LIFTER or cfg.TRAIN.PRETRAIN_LIFTER):
        return
    path = cfg.TRAIN.LIFTER_PRETRAIN_PATH
    where = args.cfg or 'the config stored in %s' % args.pretrain
    stem = os.path.splitext(os.path.basename(args.cfg or ''))[0]
    stage1 = os.path.join('cfg', stem.replace('_scale_after', '_adv') + '.yaml')
    if not stem or stage1 == os.path.join('cfg', stem + '.yaml') or \
            not os.path.isfile(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), stage1)):
        stage1 = None
    train1 = ('train stage 1 first (python tools/main.py --cfg %s)' % stage1) if stage1 else \
        'train the lifter first (e.g. an adv run)'
    if not cfg.TRAIN.PRETRAIN_LIFTER or not path:
        raise UserError('TRAIN.FREEZE_LIFTER is true but nothing warm-starts the lifter (TRAIN.PRETRAIN_LIFTER '
                        'false or no TRAIN.LIFTER_PRETRAIN_PATH): a random lifter would be frozen', where,
                        '%s and pass its checkpoint with --pretrain PATH, or set TRAIN.FREEZE_LIFTER false' % train1)
    if not os.path.isfile(path):
        raise UserError('the lifter checkpoint to start from does not exist: %s' % path,
                        '--pretrain' if args.pretrain else 'TRAIN.LIFTER_PRETRAIN_PATH in %s' % where,
                        '%s, or pass --pretrain PATH to a checkpoint of it' % train1 if not args.pretrain
                        else 'check the --pretrain path')


def main(argv=None):
    args = parse_args(argv)
    one_line_warnings(args.verbose)    # e.g. a key the original accepts and never uses
    if args.eval and not args.pretrain:
        raise UserError('--eval needs --pretrain PATH', '--eval', 'name the checkpoint to evaluate')
    if not args.cfg and not args.pretrain:
        raise UserError('no config: --cfg is needed', '--cfg', 'name one of cfg/*.yaml, or pass --pretrain CKPT '
                        'of this project to use the config stored in it')
    stored = None
    if not args.cfg:                   # the checkpoint's own config (reading it loads torch)
        from lib.eval.load_model import checkpoint_config
        stored = checkpoint_config(cli_path(args.pretrain))
    cfg = load_run_config(args.cfg, args.opts, args.model_dir, args.data_dir, args.log_dir, args.debug,
                          args.use_gt, args.pretrain, args.gpu, base=stored)
    resolve_threads(args.threads, cfg.THREADS)          # a bad value fails here, before anything is made
    stem, cfg_arg = run_name(args)
    out_dir = os.path.join(cfg.OUTPUT_DIR, stem)
    if args.eval:          # an evaluation never writes over the training run's files
        out_dir = os.path.join(out_dir, 'eval_' + checkpoint_stem(cfg.TRAIN.LIFTER_PRETRAIN_PATH))
    check_warm_start(args, cfg, args.resume)
    resume = check_inputs(args, cfg, out_dir)      # on every rank (read-only): all refuse together
    threads = apply_threads(args.threads, cfg.THREADS)
    # torch loads only now: --help and a config mistake answer without waiting for it
    import torch

    from lib.train import run as R  # loads torch
    from lib.utils import distributed as dist  # loads torch

    rank, world = dist.init(cpu=str(args.gpu).strip().startswith('-'))   # gloo for --gpu -1
    # the log file opens (and the output folder is made) only once the inputs are read and good
    log = make_logger(os.path.join(out_dir, '%s_%s.log' % (stem, timestamp())) if rank == 0 else None,
                      args.quiet, rank, deferred=True, verbose=args.verbose)
    log.info('threads: %d (%s)' % threads)
    device = select_device(args.gpu, log)
    if world > 1 and device.type == 'cuda':
        device = torch.device('cuda', dist.local_rank())
    R.setup_torch(cfg, device)
    run = R.Run(cfg, stem, out_dir, log, rank, world, cfg_arg=cfg_arg, quiet=args.quiet, force=args.force,
                replace=args.force and not own_folder(resume, out_dir))
    if args.eval:
        return R.evaluate_checkpoint(run, device, cfg.TRAIN.LIFTER_PRETRAIN_PATH, args.use_ema,
                                     explicit=set(args.opts[0::2]), shown=args.pretrain)
    return R.train(run, device, resume, cli_path(args.save_final) if args.save_final else None)


def run_name(args):
    """(the run's name, the option naming its config for the resume hint): the config file's stem;
    without --cfg, the folder of the --pretrain checkpoint (its training run's name), and for a new
    training from it, that name + '_from_' + the checkpoint's stem (never the same folder)."""
    if args.cfg:
        return os.path.splitext(os.path.basename(args.cfg))[0], '--cfg %s' % args.cfg
    path = cli_path(args.pretrain)
    name = os.path.basename(os.path.dirname(path)) or 'checkpoint'
    if not args.eval:
        name += '_from_' + checkpoint_stem(path)
    return name, '--pretrain %s' % args.pretrain


def checkpoint_stem(path):
    """The checkpoint's file name without its extension ('model_best' for
    .../model_best.pth.tar): names the folder of an evaluation."""
    name = os.path.basename(path)
    for ext in ('.pth.tar', '.tar', '.pth', '.pt'):
        if name.endswith(ext):
            return name[:-len(ext)] or name
    return name


if __name__ == '__main__':
    run_main(main)
