"""Train or evaluate a lifting model.

    python tools/main.py --cfg cfg/h36m_gt_adv.yaml --gpu 0                      # train
    python tools/main.py --cfg cfg/h36m_gt_adv.yaml --eval --pretrain models/adv.pth.tar
    cd tools && python main.py --cfg ../cfg/pre_adv.yaml --gpu 0                # as the original README
    python tools/main.py --cfg cfg/quickstart.yaml --resume                      # continue a run
    torchrun --nproc_per_node 2 tools/main.py --cfg ...                          # several processes

Paths inside a config are relative to tools/ (as in the original); paths on
the command line are relative to the current directory.
"""
import argparse
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import yaml  # noqa: E402
from tqdm import tqdm  # noqa: E402

from lib.core.config import apply_opts, get_default, to_dict, update_config  # noqa: E402
from lib.utils.errors import UserError, run_main  # noqa: E402
from lib.utils.runtime import apply_threads, cfg_path, cli_path, make_logger, timestamp  # noqa: E402
from lib.utils.safe_io import atomic_copy, atomic_write, remove_stale_temps  # noqa: E402
from lib.utils.safe_io import check_writable_dir as check_writable  # noqa: E402


def _import_torch_side():
    """The imports that load torch, done once the arguments and the config are checked (so
    that --help and a config mistake answer without waiting for torch)."""
    global torch, T, best_key, evaluate, format_table, TrainState, seed_everything, TensorSplit, load_splits
    global dist, apply_architecture, infer_architecture, load_checkpoint, load_state_strict
    global pose_state_dict, save_checkpoint, StopFlag, select_device
    import torch
    from lib.core import train as T
    from lib.core.evaluate import best_key, evaluate, format_table
    from lib.core.state import TrainState, seed_everything
    from lib.data.batches import TensorSplit
    from lib.data.dataset import load_splits
    from lib.utils import distributed as dist
    from lib.utils.checkpoint import (apply_architecture, infer_architecture, load_checkpoint,
                                      load_state_strict, pose_state_dict, save_checkpoint)
    from lib.utils.runtime import StopFlag, select_device


PATH_KEYS = ('DATA_DIR', 'OUTPUT_DIR', 'LOG_DIR', 'TRAIN.LIFTER_PRETRAIN_PATH')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Unsupervised 2D-to-3D pose lifting (Yu et al., ICCV 2021).')
    p.add_argument('--cfg', required=True, help='YAML config (cfg/*.yaml)')
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
    p.add_argument('--threads', type=int, metavar='N',
                   help='CPU threads (default: THREADS in the config, else $OMP_NUM_THREADS, else 1)')
    p.add_argument('--opts', nargs=argparse.REMAINDER, default=[],
                   help='KEY VALUE pairs overriding the config, e.g. TRAIN.NUM_EPOCHS 1')
    # accepted for compatibility with the original's command lines, and ignored
    for flag in ('--workers', '--dataset_name', '--print_interval', '--eval_suffix'):
        p.add_argument(flag, help=argparse.SUPPRESS)
    p.add_argument('--print_info', action='store_true', help=argparse.SUPPRESS)
    return p.parse_args(argv)


def setup_config(args):
    cfg = get_default()
    cfg_file = cli_path(args.cfg)
    update_config(cfg, cfg_file)
    for k in PATH_KEYS:                              # config paths: relative to tools/
        sec, _, key = k.rpartition('.')
        node = cfg[sec] if sec else cfg
        node[key] = cfg_path(node[key])
    opts = list(args.opts or [])
    for i in range(0, len(opts) - 1, 2):            # command-line paths: relative to the cwd
        if opts[i] in PATH_KEYS:
            opts[i + 1] = cli_path(opts[i + 1])
    apply_opts(cfg, opts)
    if args.model_dir:
        cfg.OUTPUT_DIR = cli_path(args.model_dir)
    if args.data_dir:
        cfg.DATA_DIR = cli_path(args.data_dir)
    if args.log_dir:
        cfg.LOG_DIR = cli_path(args.log_dir)
    if args.debug:
        cfg.DEBUG = True
    if args.use_gt:
        cfg.USE_GT = True
    if args.pretrain:
        cfg.TRAIN.PRETRAIN_LIFTER = True
        cfg.TRAIN.LIFTER_PRETRAIN_PATH = cli_path(args.pretrain)
    cfg.GPU = str(args.gpu)
    stem = os.path.splitext(os.path.basename(cfg_file))[0]
    return cfg, stem


def read_warm_start(cfg, log):
    """Read the PRETRAIN_LIFTER checkpoint and make the lifter's shape in cfg match it."""
    path = cfg.TRAIN.LIFTER_PRETRAIN_PATH
    sd = pose_state_dict(load_checkpoint(path), path)
    arch = infer_architecture(sd, path)
    use_scaler = cfg.TRAIN.USE_SCALER               # training decides about the scaler
    apply_architecture(cfg, {k: v for k, v in arch.items() if k in
                             ('LIFTER_RES_BLOCKS', 'NUM_CHANNELS', 'BN_TRACK')}, log.info)
    cfg.TRAIN.USE_SCALER = use_scaler
    return sd, arch


def warm_start(model, sd, arch, path, log):
    """Load the lifter (and the scaler, when both have one) strictly; a missing scaler stays new."""
    if model.scaler is None or arch['USE_SCALER']:
        if model.scaler is None and arch['USE_SCALER']:
            sd = {k: v for k, v in sd.items() if not k.startswith('scaler.')}
            log.info('warm start: the checkpoint\'s scaler is not used (TRAIN.USE_SCALER is off)')
        load_state_strict(model, sd, path)
    else:
        lifter = torch.nn.ModuleDict({'lifter_before': model.lifter_before, 'lifter_after': model.lifter_after})
        load_state_strict(lifter, sd, path)
        log.info('warm start: the checkpoint has no scaler; the scaler starts from scratch')
    log.info('warm start from %s' % path)


def main(argv=None):
    args = parse_args(argv)
    cfg, stem = setup_config(args)
    if args.eval and not args.pretrain:
        raise UserError('--eval needs --pretrain PATH', '--eval', 'name the checkpoint to evaluate')
    threads = apply_threads(args.threads, cfg.THREADS)
    _import_torch_side()
    rank, world = dist.init(cpu=str(args.gpu).strip().startswith('-'))   # gloo for --gpu -1
    out_dir = os.path.join(cfg.OUTPUT_DIR, stem)
    if args.eval:          # an evaluation never writes over the training run's files
        out_dir = os.path.join(out_dir, 'eval_' + checkpoint_stem(cfg.TRAIN.LIFTER_PRETRAIN_PATH))
    if rank == 0:
        check_writable(out_dir, 'output folder (OUTPUT_DIR)')
    log = make_logger(os.path.join(out_dir, '%s_%s.log' % (stem, timestamp())) if rank == 0 else None,
                      args.quiet, rank)
    log.info('threads: %d (%s)' % threads)
    device = select_device(args.gpu, log)
    if world > 1 and device.type == 'cuda':
        device = torch.device('cuda', dist.local_rank())
    seed_everything(cfg.RANDOM_SEED)
    torch.backends.cudnn.benchmark = cfg.CUDNN.BENCHMARK
    torch.backends.cudnn.deterministic = cfg.CUDNN.DETERMINISTIC
    torch.backends.cudnn.enabled = cfg.CUDNN.ENABLED
    if cfg.CUDNN.DETERMINISTIC and device.type == 'cuda':   # bitwise-repeatable GPU runs, slower
        os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
        torch.use_deterministic_algorithms(True, warn_only=True)

    # --- evaluation only -------------------------------------------------
    if args.eval:
        from lib.core.inference import load_pose_model
        model = load_pose_model(cfg, cfg.TRAIN.LIFTER_PRETRAIN_PATH, device, log.info, args.use_ema,
                                explicit=set(args.opts[0::2]))
        splits = load_splits(cfg, cfg.DATA_DIR, which=('test',))
        test = TensorSplit.from_split(splits['test'], cfg, device, train=False)
        res = evaluate(model, test, splits['test'], cfg, out_dir if rank == 0 else None,
                       {'checkpoint': cfg.TRAIN.LIFTER_PRETRAIN_PATH}, pred_file=True)
        if rank == 0:
            log.info(format_table(res, 'evaluation of %s on %d test poses' % (args.pretrain, res['num_poses'])))
            log.info('P1 Mpjpe: %.2f, P2 Mpjpe: %.2f (results in %s)' % (res['MPJPE'], res['P-MPJPE'], out_dir))
        dist.finish()
        return 0

    # --- training --------------------------------------------------------
    ckpt_path = os.path.join(out_dir, 'checkpoint.pth.tar')
    if args.resume is not None:
        resume_path = ckpt_path if args.resume == 'auto' else cli_path(args.resume)
        if not os.path.isfile(resume_path):
            raise UserError('nothing to resume: no checkpoint', resume_path,
                            'start without --resume, or pass --resume PATH to a checkpoint.pth.tar')
    if rank == 0:
        check_writable(cfg.LOG_DIR, 'log folder (LOG_DIR)')
        if args.resume is None and os.path.isfile(ckpt_path):
            log.warning('warning: %s holds an earlier run, whose checkpoints and results this run '
                        'replaces (--model_dir DIR keeps it; --resume continues it)' % out_dir)
        if remove_stale_temps(out_dir, 'checkpoint.pth.tar'):
            log.info('removed temporary files of an interrupted checkpoint write in %s' % out_dir)
    splits = load_splits(cfg, cfg.DATA_DIR)
    for name, s in splits.items():
        log.info('%s: %d frames from %s%s' % (name, len(s), s.source,
                                             ', %d non-finite dropped' % s.num_dropped if s.num_dropped else ''))
    warm = read_warm_start(cfg, log) if args.resume is None and cfg.TRAIN.PRETRAIN_LIFTER else None
    state = TrainState(cfg, device, rank, world)
    if warm is not None:
        warm_start(state.model, warm[0], warm[1], cfg.TRAIN.LIFTER_PRETRAIN_PATH, log)
    train = TensorSplit.from_split(splits.pop('train'), cfg, device, train=True)   # frees the float64 copy
    test = TensorSplit.from_split(splits['test'], cfg, device, train=False)
    if args.resume is not None:
        ck = load_checkpoint(resume_path)
        state.restore(ck, resume_path)
        log.info('resumed from %s at epoch %d, step %d' % (resume_path, state.epoch, state.step))
        changed = config_changes(ck.get('config'), to_dict(cfg))
        if changed:
            log.warning('warning: resuming with settings that differ from the checkpoint\'s (the run will '
                        'not repeat an uninterrupted one exactly): %s' % ', '.join(changed[:8]) +
                        (' ...' if len(changed) > 8 else ''))
        del ck
        if state.epoch >= cfg.TRAIN.NUM_EPOCHS:
            log.info('the run is complete (%d of %d epochs): nothing to resume; raise TRAIN.NUM_EPOCHS '
                     'to train longer' % (state.epoch, cfg.TRAIN.NUM_EPOCHS))
    if rank == 0:
        from tensorboardX import SummaryWriter
        state.writer = SummaryWriter(os.path.join(cfg.LOG_DIR, '%s_%s' % (stem, timestamp())))
        with atomic_write(os.path.join(out_dir, 'config.yaml'), 'w') as f:
            yaml.safe_dump(to_dict(cfg), f, sort_keys=False)
    dist.wrap(state)

    def save(last=None):
        if rank == 0:
            if not state.finite():                     # never replace a good checkpoint with NaNs
                log.warning('warning: non-finite weights at step %d: not overwriting %s'
                            % (state.step, ckpt_path))
                return
            save_checkpoint(state.checkpoint(last), ckpt_path)

    def stopped():
        save()
        sig = 'SIGINT' if stop.signum == signal.SIGINT else 'SIGTERM'
        log.warning('%s: stopped in epoch %d after %d of its steps (step %d); checkpoint saved to %s. '
                    'Resume with: python tools/main.py --cfg %s --resume (and the same other options)' % (
                        sig, state.epoch + 1, state.step_in_epoch, state.step, ckpt_path, args.cfg))
        if state.writer is not None:
            state.writer.close()
        dist.finish()
        return 130 if stop.signum == signal.SIGINT else 143

    res = None
    with StopFlag() as stop:
        for epoch in range(state.epoch, cfg.TRAIN.NUM_EPOCHS):
            if stop():                                 # a signal at an epoch boundary (e.g. in eval)
                return stopped()
            sch = T.scheme(cfg, epoch)
            if sch not in ('adv', 'supervised') and state.opt_phase != 'method' and \
                    cfg.TRAIN.WARM_START_EPOCHS and epoch >= cfg.TRAIN.WARM_START_EPOCHS:
                state.build_optimizers('method')     # the warm start ends: fresh optimisers
                log.info('epoch %d: warm start over, training the full method' % epoch)
            if cfg.DATA.REDRAW_ROT_EVERY_EPOCH and epoch > 0:   # also when resuming mid-epoch
                train.redraw_rotations(cfg, cfg.RANDOM_SEED + epoch)
            if state.step_in_epoch == 0:                # (a mid-epoch resume already stepped it)
                if cfg.COMPAT.SCHEDULER_STEP_FIRST:
                    for s in state.sched:
                        s.step()
            n = T.steps_per_epoch(len(train), cfg, world)
            bar = tqdm(total=n, initial=state.step_in_epoch, desc='epoch %d/%d %s' % (epoch + 1,
                       cfg.TRAIN.NUM_EPOCHS, sch), disable=args.quiet or rank != 0 or not sys.stderr.isatty(),
                       dynamic_ncols=True, leave=False)
            try:
                status = T.train_epoch(state, train, cfg, epoch, bar, log, stop, on_checkpoint=save)
            except T.NonFiniteLoss as e:
                if state.finite():                     # the step was not taken: the last good state
                    save()
                    kept = 'the last good state is saved'
                else:                                  # weights already broken: keep the older file
                    kept = 'the weights are non-finite, ' + ('the previous checkpoint is kept'
                                                             if os.path.isfile(ckpt_path) else
                                                             'no checkpoint was written')
                if state.writer is not None:
                    state.writer.close()
                raise UserError('%s (epoch %d); %s' % (e, epoch + 1, kept), ckpt_path,
                                'lower TRAIN.POSE_LR or the loss weights, check the data, or set '
                                'TRAIN.NONFINITE: skip; then --resume') from None
            finally:
                bar.close()
            if status == 'stopped':
                return stopped()
            if not cfg.COMPAT.SCHEDULER_STEP_FIRST:
                for s in state.sched:
                    s.step()
            state.epoch, state.step_in_epoch = epoch + 1, 0
            last = {}
            if cfg.EVAL.EVERY_EPOCH or epoch == cfg.TRAIN.NUM_EPOCHS - 1:
                res = run_eval(state, test, splits['test'], cfg, out_dir, rank, epoch)
                last = res
                entry = {'epoch': epoch, 'MPJPE': res['MPJPE'], 'P-MPJPE': res['P-MPJPE'],
                         'N-MPJPE': res['N-MPJPE'], 'seconds': round(state.epoch_seconds, 2)}
                if 'ema' in res:
                    entry['ema_MPJPE'], entry['ema_P-MPJPE'] = res['ema']['MPJPE'], res['ema']['P-MPJPE']
                state.history.append(entry)
                # the original's rule: lowest P-MPJPE (COMPAT.BEST_BY_BATCHMEAN: its printed mean of
                # batch means), or for MPI-INF-3DHP the highest AUC after alignment
                is_best = state.update_best(res, epoch, best_key(cfg))
                if state.writer is not None:
                    for k in ('MPJPE', 'P-MPJPE', 'N-MPJPE', 'MPJPE_oracle_scale', 'auc', 'pckh5', 'auc_p2', 'pckh5_p2'):
                        if k in res:                   # the PCK / AUC of MPI-INF-3DHP
                            state.writer.add_scalar('test/%s' % k, res[k], epoch)
                log.info('epoch %d/%d [%s] MPJPE %.2f  P-MPJPE %.2f  N-MPJPE %.2f  (%.1fs)' % (
                    epoch + 1, cfg.TRAIN.NUM_EPOCHS, sch, res['MPJPE'], res['P-MPJPE'], res['N-MPJPE'],
                    state.epoch_seconds) + ('  PCK150 %.3f AUC %.3f, aligned %.3f %.3f' % (
                        res['pckh5'], res['auc'], res['pckh5_p2'], res['auc_p2']) if 'auc' in res else ''))
                save(last)
                if is_best and rank == 0:
                    atomic_copy(ckpt_path, os.path.join(out_dir, 'model_best.pth.tar'))
            else:
                save(last)
            if stop() and epoch < cfg.TRAIN.NUM_EPOCHS - 1:
                return stopped()
    if state.writer is not None:
        state.writer.close()
    if rank == 0 and res is not None:
        res.update({'best_P-MPJPE_during_training': state.best['P-MPJPE'],
                    'best_MPJPE_during_training': state.best['MPJPE'], 'model_best_selected_by': best_key(cfg),
                    'history': state.history,
                    'skipped_steps': state.skipped})
        if 'auc' in res:
            res.update({'best_%s_during_training' % k: state.best.get(k, 0.0) for k in ('auc_p2', 'pckh5_p2', 'auc', 'pckh5')})
        with atomic_write(os.path.join(out_dir, 'results.json'), 'w') as f:
            json.dump(res, f, indent=2)
        log.info(format_table(res, 'final model, %d test poses' % res['num_poses']))
        log.info('best during training: P-MPJPE %.2f (epoch %d), MPJPE %.2f' % (
            state.best['P-MPJPE'], state.best['epoch'] + 1, state.best['MPJPE']))
        log.info('results: %s' % os.path.join(out_dir, 'results.json'))
    if rank == 0 and args.save_final:
        dst = cli_path(args.save_final)
        try:
            atomic_copy(ckpt_path, dst)
        except OSError as e:
            raise UserError('cannot write the final checkpoint (%s)' % (e.strerror or e), dst,
                            'choose a writable --save-final path') from None
        log.info('final checkpoint copied to %s' % dst)
    dist.finish()
    return 0


def checkpoint_stem(path):
    """'model_best' for .../model_best.pth.tar: names the folder of an evaluation."""
    name = os.path.basename(path)
    for ext in ('.pth.tar', '.tar', '.pth', '.pt'):
        if name.endswith(ext):
            return name[:-len(ext)] or name
    return name


_NOT_COMPARED = {'GPU', 'THREADS', 'OUTPUT_DIR', 'LOG_DIR', 'DATA_DIR', 'DATA.TRAIN_PATH', 'DATA.VALID_PATH',
                 'TRAIN.PRETRAIN_LIFTER', 'TRAIN.LIFTER_PRETRAIN_PATH', 'PRINT_INFO', 'PRINT_INTERVAL',
                 'NUM_WORKERS', 'TRAIN.CHECKPOINT_EVERY', 'TRAIN.NUM_EPOCHS'}


def config_changes(old, new):
    """'KEY old -> new' for every setting (paths and the like aside) that differs."""
    if not isinstance(old, dict):
        return []

    def flat(d, prefix=''):
        out = {}
        for k, v in d.items():
            if isinstance(v, dict):
                out.update(flat(v, prefix + k + '.'))
            else:
                out[prefix + k] = v
        return out
    a, b = flat(old), flat(new)
    return ['%s %r -> %r' % (k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
            if k not in _NOT_COMPARED and a.get(k) != b.get(k)]


def run_eval(state, test, split, cfg, out_dir, rank, epoch):
    """Evaluate the model as it is trained at ``epoch``: during the adv warm start the
    scaler is not part of the model yet (s = 1), so it is bypassed here too."""
    use_scaler = T.scheme(cfg, epoch) != 'adv'
    res = evaluate(state.model, test, split, cfg, out_dir if rank == 0 else None, write=(rank == 0),
                   use_scaler=use_scaler)
    if state.ema is not None:
        ema = evaluate(state.ema.module, test, split, cfg, None, write=False, use_scaler=use_scaler)
        res['ema'] = {k: ema[k] for k in ('MPJPE', 'P-MPJPE', 'N-MPJPE', 'MPJPE_oracle_scale',
                                          'MPJPE_batchmean', 'P-MPJPE_batchmean')}
        if rank == 0:
            with atomic_write(os.path.join(out_dir, 'results.json'), 'w') as f:
                json.dump(res, f, indent=2)
    return res


if __name__ == '__main__':
    run_main(main)
