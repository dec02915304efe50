"""One run of ``tools/main.py``: a training run from start to end, or the evaluation of a checkpoint.

The epoch loop (:func:`train`) reads top to bottom::

    for each epoch:   start (optimisers after a warm start, rotations, scheduler-first)
                      -> train_epoch (lib/train/step.py) -> scheduler -> evaluate
                      -> history, model_best -> save

Around it: the data, the warm start or the resume, the summary writer, and the stop
paths -- a signal (saved, resumable, exit 130 / 143) and a non-finite loss (the last
good state saved, a one-line error).  Only rank 0 writes files, into its output folder
as a unit (lib/utils/run_folder.py): locked while the run writes; with --force the
earlier run's files are put aside and deleted at this run's first checkpoint; a
failure before that removes this run's files and puts the earlier ones back.
"""
import json
import logging
import os
import signal
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import yaml
from tqdm import tqdm

from lib.config.load import config_changes, to_dict
from lib.data import scale_prior
from lib.data.batches import TensorSplit
from lib.data.dataset import load_splits
from lib.data.formats import get_spec, pose_model_args
from lib.eval import criteria as C
from lib.eval.evaluate import best_key, evaluate, format_table
from lib.eval.load_model import load_pose_model
from lib.models.checkpoint import (apply_architecture, load_checkpoint, load_state_strict, read_pose_checkpoint,
                                   save_checkpoint)
from lib.train import flow_prior
from lib.train import step as T
from lib.train import schedule as TS
from lib.train.state import TrainState, seed_everything
from lib.utils import distributed as dist
from lib.utils.errors import UserError, disk_error, is_disk_error
from lib.utils.outputs import check_output_dir, create_output_dir
from lib.utils.run_folder import FINISHED_RUN, RunFolder
from lib.utils.runtime import StopFlag, start_log_file, timestamp
from lib.utils.safe_io import atomic_copy, atomic_write, remove_stale_temps

# what the log line and tensorboard report of an evaluation
REPORTED = ('MPJPE', 'P-MPJPE', 'N-MPJPE', 'MPJPE_oracle_scale', 'auc', 'pckh5', 'auc_p2', 'pckh5_p2')


@dataclass
class Run:
    """Where a run writes and how it reports: the config, its name (the config file's stem),
    the output folder, this process's rank, the logger, and the command's --cfg (for the
    resume hint)."""
    cfg: object
    stem: str
    out_dir: str
    log: object
    rank: int = 0
    world: int = 1
    cfg_arg: str = ''
    quiet: bool = False
    force: bool = False
    replace: bool = False          # --force on a folder that is not this run's own: put its files aside
    test_split: object = field(default=None, repr=False)
    folder: object = field(default=None, repr=False)      # the RunFolder, once the files start
    curve: list = field(default_factory=list, repr=False)  # the points of curve.json so far
    criteria: dict = field(default_factory=dict, repr=False)  # EVAL.CRITERIA: {source: CriteriaSet}
    saved: bool = False            # a checkpoint of this run is on disk (it can be resumed)
    extra_paths: list = field(default_factory=list, repr=False)   # its tensorboard folder, ...

    @property
    def ckpt_path(self):
        return os.path.join(self.out_dir, 'checkpoint.pth.tar')

    def start_files(self):
        """Make the output folder and open the log file: called once the inputs (config, data,
        checkpoints, device) are read and good, so that a run refused on its input creates nothing
        (tools/main.py checked the folder itself beforehand, lib/utils/outputs.py)."""
        if self.rank == 0:
            self.folder = RunFolder(self.out_dir, replace=self.replace).open()
            start_log_file(self.log)

    def close(self):
        """The run's files stand on their own (finished, or resumable): keep them, release the folder."""
        if self.folder is not None:
            self.folder.close()

    def fail(self, e):
        """After the exception ``e``: a run with a checkpoint of its own keeps its files (they can be
        resumed), any other removes what it wrote and puts the earlier run's files back.  Returns
        the exception to raise (a full disk of a resumable run says how to go on)."""
        if self.folder is None:
            return e
        if self.saved:
            self.close()
            if is_disk_error(e):
                err = disk_error(e)
                return UserError(err.what + '; the last checkpoint is kept', err.where,
                                 err.fix + ', then continue with --resume')
            return e
        for h in list(self.log.handlers):      # its log file goes with the folder
            if isinstance(h, logging.FileHandler):
                h.close()
                self.log.removeHandler(h)
        self.folder.abort(self.extra_paths)
        return e

    @contextmanager
    def failing_cleanly(self):
        """A failure inside the block goes through :meth:`fail` (keep a resumable run's files, else
        remove this run's and put the earlier run's back) and is raised as it returns."""
        try:
            yield
        except BaseException as e:
            err = self.fail(e)
            if err is e:
                raise
            raise err from None


def setup_torch(cfg, device):
    """Seeds and cuDNN flags of the config (CUDNN.DETERMINISTIC: bitwise-repeatable GPU runs)."""
    seed_everything(cfg.RANDOM_SEED)
    torch.backends.cudnn.benchmark = cfg.CUDNN.BENCHMARK
    torch.backends.cudnn.deterministic = cfg.CUDNN.DETERMINISTIC
    torch.backends.cudnn.enabled = cfg.CUDNN.ENABLED
    if cfg.CUDNN.DETERMINISTIC and device.type == 'cuda':
        os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
        torch.use_deterministic_algorithms(True, warn_only=True)


# --- evaluation of a checkpoint -----------------------------------------------------------

def evaluate_checkpoint(run, device, path, use_ema=False, explicit=(), shown=None):
    """``--eval``: lift the test split with the checkpoint, write results.json, predictions
    and the original's prediction file into ``run.out_dir``, log the table (naming the
    checkpoint as ``shown``, the path as the user gave it)."""
    cfg = run.cfg
    model = load_pose_model(cfg, path, device, run.log.info, use_ema, explicit=explicit)
    splits = load_splits(cfg, cfg.DATA_DIR, which=('test',))
    test = TensorSplit.from_split(splits['test'], cfg, device, train=False)
    run.start_files()
    with run.failing_cleanly():
        res = evaluate(model, test, splits['test'], cfg, run.out_dir if run.rank == 0 else None,
                       {'checkpoint': path}, pred_file=True)
    run.close()
    if run.rank == 0:
        run.log.info(format_table(res, 'evaluation of %s on %d test poses' % (shown or path, res['num_poses'])))
        run.log.info('P1 Mpjpe: %.2f, P2 Mpjpe: %.2f (results in %s)' % (res['MPJPE'], res['P-MPJPE'],
                                                                        run.out_dir))
    dist.finish()
    return 0


# --- training -----------------------------------------------------------------------------

def train(run, device, resume=None, save_final=None):
    """Train ``run.cfg`` from scratch, from a warm start, or from ``resume`` (a checkpoint
    path); returns the exit code (0, or 130 / 143 after SIGINT / SIGTERM)."""
    cfg = run.cfg
    if resume is not None and not os.path.isfile(resume):
        raise UserError('nothing to resume: no checkpoint', resume,
                        'start without --resume, or pass --resume PATH to a checkpoint.pth.tar')
    state, train_data, test_data = _build(run, device, resume)
    if state is None:                                  # --resume of a finished run: nothing changes
        dist.finish()
        return 0
    with run.failing_cleanly():
        return _train_loop(run, state, train_data, test_data, device, save_final)


def _train_loop(run, state, train_data, test_data, device, save_final):
    cfg = run.cfg
    dist.wrap(state)
    res = None
    try:
        with StopFlag() as stop:
            for epoch in range(state.epoch, cfg.TRAIN.NUM_EPOCHS):
                if stop():                             # a signal at an epoch boundary (e.g. in eval)
                    return _stopped(run, state, stop)
                _start_epoch(run, state, train_data, epoch)
                if _train_epoch(run, state, train_data, epoch, stop) == 'stopped':
                    return _stopped(run, state, stop)
                if not cfg.COMPAT.SCHEDULER_STEP_FIRST:
                    state.step_schedulers()
                state.epoch, state.step_in_epoch = epoch + 1, 0
                if cfg.EVAL.EVERY_EPOCH or epoch == cfg.TRAIN.NUM_EPOCHS - 1:
                    res = _evaluate_epoch(run, state, test_data, epoch)
                    _record_curve(run, state, test_data, epoch, res)
                else:
                    _save(run, state)
                    _record_curve(run, state, test_data, epoch)
                if stop() and epoch < cfg.TRAIN.NUM_EPOCHS - 1:
                    return _stopped(run, state, stop)
    finally:
        if state.writer is not None:
            state.writer.close()
    _finish(run, state, res, save_final)
    run.close()
    dist.finish()
    return 0


def _prepare_folders(run, resume):
    """Once the inputs are good: make the log and output folders (the log folder first: a bad one
    then leaves nothing), lock the output folder, open the log; say when this run replaces an
    earlier one (only with --force: tools/main.py refuses it otherwise)."""
    if run.rank != 0:
        return
    create_output_dir(run.cfg.LOG_DIR, 'LOG_DIR', 'log folder (LOG_DIR)')
    run.start_files()
    if run.folder.replaced:
        run.log.warning('warning: %s holds an earlier run, whose files this run replaces once it has written '
                        'its first checkpoint (--force; --model_dir DIR keeps it; --resume continues it)'
                        % run.out_dir)
    if remove_stale_temps(run.out_dir, 'checkpoint.pth.tar'):
        run.log.info('removed temporary files of an interrupted checkpoint write in %s' % run.out_dir)


def _build(run, device, resume):
    """The data on the device, the TrainState (warm-started or resumed), the summary writer
    and the run's config.yaml."""
    cfg, log = run.cfg, run.log
    if cfg.TRAIN.FLOW_WEIGHT:
        flow_prior.require_zuko()                     # before anything is read or created
    splits = load_splits(cfg, cfg.DATA_DIR)
    for name, s in splits.items():
        log.info('%s: %d frames from %s%s' % (name, len(s), s.source,
                                             ', %d non-finite dropped' % s.num_dropped if s.num_dropped else ''))
    scale_prior.resolve(cfg, cfg.DATA_DIR, splits['train'], get_spec(cfg.DATA.DATASET_NAME), log.info)
    warm = read_warm_start(cfg, log) if resume is None and cfg.TRAIN.PRETRAIN_LIFTER else None
    state = TrainState(cfg, device, run.rank, run.world)
    fresh_scaler = state.model.scaler is not None and (warm is None or not warm[1]['USE_SCALER'])
    if warm is not None:
        warm_start(state.model, *warm, cfg.TRAIN.LIFTER_PRETRAIN_PATH, log)
    if fresh_scaler and cfg.TRAIN.SCALER_INIT_PRIOR and resume is None:
        init_scaler_at_prior(state.model.scaler, cfg.DATA.SCALE_MID_MEAN)
        log.info('scaler: starts near the prior, scale_mid %.6g for every pose (TRAIN.SCALER_INIT_PRIOR)'
                 % cfg.DATA.SCALE_MID_MEAN)
    train_data = TensorSplit.from_split(splits.pop('train'), cfg, device, train=True)  # frees the float64 copy
    run.test_split = splits['test']
    test_data = TensorSplit.from_split(run.test_split, cfg, device, train=False)
    if resume is not None:
        _resume(run, state, resume)
        if state.epoch >= cfg.TRAIN.NUM_EPOCHS:         # finished: no file, folder or log is touched
            return None, None, None
        run.curve = read_curve(os.path.join(os.path.dirname(resume), 'curve.json'), state.epoch)
    if cfg.EVAL.CRITERIA or cfg.EVAL.SELECT_BY:
        run.criteria = {'train': C.CriteriaSet(train_data.pose_2d, cfg.TRAIN.BOUND_AZIM, cfg.TRAIN.BOUND_ELEV),
                        'test': C.CriteriaSet(test_data.pose_2d, cfg.TRAIN.BOUND_AZIM, cfg.TRAIN.BOUND_ELEV)}
    _prepare_folders(run, resume)
    if cfg.TRAIN.FLOW_WEIGHT:
        state.flow, state.flow_info = flow_prior.prepare(cfg, train_data.pose_2d, pose_model_args(cfg)['root'],
                                                         run.out_dir, resume is not None, log.info, run.rank == 0)
    if run.rank == 0:
        with run.failing_cleanly():
            try:
                from tensorboardX import SummaryWriter
                tb = os.path.join(cfg.LOG_DIR, '%s_%s' % (run.stem, timestamp()))
                run.extra_paths.append(tb)
                state.writer = SummaryWriter(tb)
                with atomic_write(os.path.join(run.out_dir, 'config.yaml'), 'w') as f:
                    yaml.safe_dump(to_dict(cfg), f, sort_keys=False)
            except BaseException:
                if state.writer is not None:
                    state.writer.close()
                raise
    return state, train_data, test_data


def read_curve(path, epoch):
    """The points of ``curve.json`` (EVAL.CURVE_EVERY) before ``epoch``, for a resumed run; checked
    like any input: a list of {'epoch': int, 'scheme': str, metric: number}."""
    if not os.path.isfile(path):
        return []
    fix = 'delete it (the curve then restarts at this epoch) or restore it from a backup'
    try:
        with open(path) as f:
            points = json.load(f)
    except (OSError, ValueError) as e:
        raise UserError('unreadable curve file (%s)' % str(e).split('\n')[0][:80], path, fix) from None
    ok = isinstance(points, list) and all(
        isinstance(p, dict) and isinstance(p.get('epoch'), int) and not isinstance(p['epoch'], bool)
        and p['epoch'] >= 1 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                   for k, v in p.items() if k in CURVE_KEYS or k.startswith('crit_')) for p in points)
    if not ok:
        raise UserError('curve file is not a list of points {"epoch": N, metrics...}', path, fix)
    return [p for p in points if p['epoch'] <= epoch]


def _resume(run, state, path):
    """Restore everything from ``path``; warn when the config differs from the checkpoint's."""
    ck = load_checkpoint(path)
    _check_resume_folder(run, ck, path)
    state.restore(ck, path)
    run.log.info('resumed from %s at epoch %d, step %d' % (path, state.epoch, state.step))
    changed = config_changes(ck.get('config'), to_dict(run.cfg))
    if changed:
        run.log.warning('warning: resuming with settings that differ from the checkpoint\'s (the run will '
                        'not repeat an uninterrupted one exactly): %s' % ', '.join(changed[:8]) +
                        (' ...' if len(changed) > 8 else ''))
    if state.epoch >= run.cfg.TRAIN.NUM_EPOCHS:
        run.log.info('the run is complete (%d of %d epochs): nothing to resume; raise TRAIN.NUM_EPOCHS '
                     'to train longer' % (state.epoch, run.cfg.TRAIN.NUM_EPOCHS))


def _check_resume_folder(run, ck, path):
    """A checkpoint from another folder continues into ``run.out_dir`` only if that folder holds no
    other run: none at all, or the one the checkpoint was written by (its config's OUTPUT_DIR), or
    --force replaces it."""
    if run.force or os.path.abspath(os.path.dirname(path)) == os.path.abspath(run.out_dir):
        return
    written_in = (ck.get('config') or {}).get('OUTPUT_DIR') if isinstance(ck.get('config'), dict) else None
    if isinstance(written_in, str) and os.path.abspath(os.path.join(written_in, run.stem)) == \
            os.path.abspath(run.out_dir):
        return
    check_output_dir(run.out_dir, 'OUTPUT_DIR', 'output folder (OUTPUT_DIR)', finished=FINISHED_RUN)


def read_warm_start(cfg, log):
    """Read the PRETRAIN_LIFTER checkpoint and make the lifter's shape in cfg match it;
    returns (state dict, architecture)."""
    path = cfg.TRAIN.LIFTER_PRETRAIN_PATH
    _, sd, arch = read_pose_checkpoint(path)
    # only the lifter's shape: training itself decides about the scaler (TRAIN.USE_SCALER)
    apply_architecture(cfg, {k: v for k, v in arch.items() if k in
                             ('LIFTER_RES_BLOCKS', 'NUM_CHANNELS', 'BN_TRACK')}, log.info)
    return sd, arch


def init_scaler_at_prior(scaler, scale_mid_mean, shrink=0.01):
    """TRAIN.SCALER_INIT_PRIOR: shrink the scaler's output weights (x ``shrink``) and set its bias
    to the prior's mean, so a new scaler starts near scale_mid = the prior mean for every pose
    (with LEARN_SYMMETRY, scale = 2 scale_mid - (h + w) / 2) instead of at random values around 0.
    The weights are shrunk, not zeroed: a batch of identical values has a standard deviation of
    0, where the KL term (the log of the batch std) is infinite."""
    with torch.no_grad():
        scaler.out.weight.mul_(shrink)
        scaler.out.bias.fill_(float(scale_mid_mean))


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


def _start_epoch(run, state, train_data, epoch):
    """Fresh optimisers when a warm start's adv epochs end; this epoch's fixed rotations
    (DATA.REDRAW_ROT_EVERY_EPOCH); the scheduler step of COMPAT.SCHEDULER_STEP_FIRST."""
    cfg = run.cfg
    scheme = TS.epoch_scheme(cfg, epoch)
    if scheme not in ('adv', 'supervised') and state.optimizer_stage != 'method' and \
            cfg.TRAIN.WARM_START_EPOCHS and epoch >= cfg.TRAIN.WARM_START_EPOCHS:
        state.build_optimizers('method')
        run.log.info('epoch %d: warm start over, training the full method' % epoch)
    if cfg.DATA.REDRAW_ROT_EVERY_EPOCH and epoch > 0:   # also when resuming mid-epoch
        train_data.redraw_rotations(cfg, cfg.RANDOM_SEED + epoch)
    if state.step_in_epoch == 0 and cfg.COMPAT.SCHEDULER_STEP_FIRST:   # (a mid-epoch resume stepped it)
        state.step_schedulers()


def _train_epoch(run, state, train_data, epoch, stop):
    """train_epoch with a progress bar; a non-finite loss saves the last good state (when the
    weights are still finite) and becomes a one-line error."""
    cfg = run.cfg
    bar = tqdm(total=TS.steps_per_epoch(len(train_data), cfg, run.world), initial=state.step_in_epoch,
               desc='epoch %d/%d %s' % (epoch + 1, cfg.TRAIN.NUM_EPOCHS, TS.epoch_scheme(cfg, epoch)),
               disable=run.quiet or run.rank != 0 or not sys.stderr.isatty(), dynamic_ncols=True, leave=False)
    try:
        return T.train_epoch(state, train_data, cfg, epoch, bar, run.log, stop,
                             on_checkpoint=lambda: _save(run, state))
    except T.NonFiniteLoss as e:
        if state.finite():                             # the step was not taken: the last good state
            _save(run, state)
            kept = 'the last good state is saved'
        else:                                          # weights already broken: keep the older file
            kept = 'the weights are non-finite, ' + ('the previous checkpoint is kept'
                                                     if os.path.isfile(run.ckpt_path) else 'no checkpoint was written')
        raise UserError('%s (epoch %d); %s' % (e, epoch + 1, kept), run.ckpt_path,
                        'lower TRAIN.POSE_LR or the loss weights, check the data and the scale prior, or set '
                        'TRAIN.NONFINITE: skip; then --resume') from None
    finally:
        bar.close()


def run_eval(state, test_data, split, cfg, out_dir, rank, epoch):
    """Evaluate the model as it is trained at ``epoch`` (and its EMA, when on): during the adv
    warm start the scaler is not part of the model yet (s = 1), so it is bypassed here too."""
    use_scaler = TS.epoch_scheme(cfg, epoch) != 'adv'
    res = evaluate(state.model, test_data, split, cfg, out_dir if rank == 0 else None, write=(rank == 0),
                   use_scaler=use_scaler)
    if state.ema is not None:
        ema = evaluate(state.ema.module, test_data, split, cfg, None, write=False, use_scaler=use_scaler)
        res['ema'] = {k: ema[k] for k in ('MPJPE', 'P-MPJPE', 'N-MPJPE', 'MPJPE_oracle_scale', 'P-MPJPE_reflect',
                                          'depth_flip_rate', 'MPJPE_batchmean', 'P-MPJPE_batchmean')}
        if rank == 0:
            with atomic_write(os.path.join(out_dir, 'results.json'), 'w') as f:
                json.dump(res, f, indent=2)
    return res


def _evaluate_epoch(run, state, test_data, epoch):
    """Evaluate, add the epoch to the history, report, save, and copy the checkpoint to
    model_best by the original's rule: the lowest P-MPJPE (COMPAT.BEST_BY_BATCHMEAN: its
    printed mean of batch means), for MPI-INF-3DHP the highest AUC after alignment."""
    cfg = run.cfg
    res = run_eval(state, test_data, run.test_split, cfg, run.out_dir, run.rank, epoch)
    entry = {'epoch': epoch, 'MPJPE': res['MPJPE'], 'P-MPJPE': res['P-MPJPE'],
             'N-MPJPE': res['N-MPJPE'], 'seconds': round(state.epoch_seconds, 2)}
    if 'ema' in res:
        entry['ema_MPJPE'], entry['ema_P-MPJPE'] = res['ema']['MPJPE'], res['ema']['P-MPJPE']
    state.history.append(entry)
    is_best = state.update_best(res, epoch, best_key(cfg))
    if state.writer is not None:
        for k in REPORTED:
            if k in res:
                state.writer.add_scalar('test/%s' % k, res[k], epoch)
    run.log.info('epoch %d/%d [%s] MPJPE %.2f  P-MPJPE %.2f  N-MPJPE %.2f  (%.1fs)' % (
        epoch + 1, cfg.TRAIN.NUM_EPOCHS, TS.epoch_scheme(cfg, epoch), res['MPJPE'], res['P-MPJPE'],
        res['N-MPJPE'], state.epoch_seconds) + ('  PCK150 %.3f AUC %.3f, aligned %.3f %.3f' % (
            res['pckh5'], res['auc'], res['pckh5_p2'], res['auc_p2']) if 'auc' in res else ''))
    _save(run, state, res)
    if is_best and run.rank == 0:
        atomic_copy(run.ckpt_path, os.path.join(run.out_dir, 'model_best.pth.tar'))
    return res


CURVE_KEYS = ('MPJPE', 'N-MPJPE', 'P-MPJPE', 'MPJPE_oracle_scale', 'P-MPJPE_reflect', 'depth_flip_rate',
              'scale_mean', 'scale_std', 'scale_true_mean')


def _record_curve(run, state, test_data, epoch, res=None):
    """EVAL.CURVE_EVERY: every N epochs (and after the last) add the test metrics of the model as
    it is to ``curve.json`` (rank 0).  Recorded only: nothing selects a model by them.  ``res``:
    this epoch's evaluation, when the run made one anyway."""
    cfg = run.cfg
    k = cfg.EVAL.CURVE_EVERY
    if not k or ((epoch + 1) % k and epoch != cfg.TRAIN.NUM_EPOCHS - 1):
        return
    if res is None:
        res = evaluate(state.model, test_data, run.test_split, cfg, None, write=False,
                       use_scaler=TS.epoch_scheme(cfg, epoch) != 'adv')
    if run.rank != 0:
        return
    path = os.path.join(run.out_dir, 'curve.json')
    # a resumed run keeps the points before it (read and checked when it started: read_curve)
    run.curve = [p for p in run.curve if p['epoch'] <= epoch]
    point = dict({'epoch': epoch + 1, 'scheme': TS.epoch_scheme(cfg, epoch)},
                 **{m: res[m] for m in CURVE_KEYS if m in res})
    if run.criteria:
        point.update(C.compute_all(state.model, run.criteria, TS.epoch_scheme(cfg, epoch) != 'adv'))
    run.curve.append(point)
    with atomic_write(path, 'w') as f:
        json.dump(run.curve, f, indent=1)
    if cfg.EVAL.SELECT_BY and selected_point(run.curve, cfg.EVAL.SELECT_BY) is point:
        atomic_copy(run.ckpt_path, os.path.join(run.out_dir, SELECTED))


SELECTED = 'model_selected.pth.tar'


def selected_point(curve, select_by):
    """EVAL.SELECT_BY: the curve point with the lowest value of that label-free criterion (the
    earliest of equal ones), whose checkpoint model_selected.pth.tar holds; None if no point has it."""
    key = 'crit_' + select_by
    points = [p for p in curve if isinstance(p.get(key), float)]
    return min(points, key=lambda p: p[key]) if points else None


def _save(run, state, last=None):
    """Write the checkpoint (rank 0), never replacing a good one with non-finite weights."""
    if run.rank != 0:
        return
    if not state.finite():
        run.log.warning('warning: non-finite weights at step %d: not overwriting %s' % (state.step, run.ckpt_path))
        return
    save_checkpoint(state.checkpoint(last), run.ckpt_path)
    if not run.saved:                  # this run can now be resumed: the earlier run's files go
        run.saved = True
        run.folder.commit()


def _stopped(run, state, stop):
    """After SIGINT / SIGTERM: save, say how to resume, return the shell's exit code."""
    _save(run, state)
    sig = 'SIGINT' if stop.signum == signal.SIGINT else 'SIGTERM'
    run.log.warning('%s: stopped in epoch %d after %d of its steps (step %d); checkpoint saved to %s. '
                    'Resume with: python tools/main.py %s --resume (and the same other options)' % (
                        sig, state.epoch + 1, state.step_in_epoch, state.step, run.ckpt_path, run.cfg_arg))
    if state.writer is not None:                       # (closed before dist.finish's barrier)
        state.writer.close()
        state.writer = None
    run.close()
    dist.finish()
    return 130 if stop.signum == signal.SIGINT else 143


def _finish(run, state, res, save_final):
    """results.json of the final model (with the history and the best during training), the
    final table, and the --save-final copy."""
    if run.rank != 0:
        return
    log = run.log
    if res is not None:
        res.update({'best_P-MPJPE_during_training': state.best['P-MPJPE'],
                    'best_MPJPE_during_training': state.best['MPJPE'], 'model_best_selected_by': best_key(run.cfg),
                    'history': state.history, 'skipped_steps': state.skipped, **state.flow_info})
        chosen = selected_point(run.curve, run.cfg.EVAL.SELECT_BY) if run.cfg.EVAL.SELECT_BY else None
        if chosen is not None:       # its test metrics, recorded in its curve point: nothing selects by them
            res['selected'] = dict(chosen, select_by=run.cfg.EVAL.SELECT_BY, checkpoint=SELECTED)
        if 'auc' in res:
            res.update({'best_%s_during_training' % k: state.best.get(k, 0.0)
                        for k in ('auc_p2', 'pckh5_p2', 'auc', 'pckh5')})
        with atomic_write(os.path.join(run.out_dir, 'results.json'), 'w') as f:
            json.dump(res, f, indent=2)
        log.info(format_table(res, 'final model, %d test poses' % res['num_poses']))
        log.info(state.describe_best(best_key(run.cfg)))
        if chosen is not None:
            log.info('%s: epoch %d, the lowest %s (%.4g) of the training 2D poses; its MPJPE %.2f, P-MPJPE %.2f'
                     % (SELECTED, chosen['epoch'], run.cfg.EVAL.SELECT_BY, chosen['crit_' + run.cfg.EVAL.SELECT_BY],
                        chosen['MPJPE'], chosen['P-MPJPE']))
        log.info('results: %s' % os.path.join(run.out_dir, 'results.json'))
    if save_final:
        try:
            atomic_copy(run.ckpt_path, save_final)
        except OSError as e:
            raise UserError('cannot write the final checkpoint (%s)' % (e.strerror or e), save_final,
                            'choose a writable --save-final path') from None
        log.info('final checkpoint copied to %s' % save_final)
