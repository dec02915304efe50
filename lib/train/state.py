"""Everything a training run holds, built in one place, saved and restored whole.

``TrainState`` owns the pose model, both discriminators, their Adam
optimisers (betas 0.5, 0.9) and StepLR schedulers, the EMA, the sampling RNG
and the counters.  ``checkpoint()`` / ``restore()`` round-trip all of it, so
``--resume`` continues a run exactly (RNG states included).
"""
import contextlib
import random
import re
import warnings

import numpy as np
import torch

from lib.config.load import to_dict
from lib.data.formats import pose_model_args
from lib.models import compile as compiling
from lib.models.checkpoint import load_state_strict, pose_state_dict
from lib.models.discriminator import get_discriminator
from lib.models.pose_model import get_pose_model
from lib.train.ema import EMA
from lib.train.schedule import epoch_scheme
from lib.utils.errors import UserError


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


class TrainState:
    def __init__(self, cfg, device, rank=0, world=1):
        self.cfg, self.device, self.rank, self.world = cfg, device, rank, world
        self.model = get_pose_model(cfg, **pose_model_args(cfg)).to(device)
        self.D = get_discriminator(cfg, False).to(device)
        self.Dt = get_discriminator(cfg, True).to(device)
        # what the training step calls: the modules themselves, or their DistributedDataParallel
        # wrappers under torchrun (lib/utils/distributed.py:wrap)
        self.fwd_model, self.fwd_D, self.fwd_Dt = self.model, self.D, self.Dt
        self.ema = EMA(self.model, cfg.TRAIN.EMA_DECAY) if cfg.TRAIN.EMA_DECAY > 0 else None
        self.compiled = cfg.TRAIN.COMPILE and compiling.compile_models(device, self.model, self.D, self.Dt)
        # the generator of every random draw in the batches (rotations, TMC neighbours, bone
        # partners), apart from torch's global one (dropout): saved in checkpoints
        self.sampling_rng = torch.Generator(device=device)
        self.sampling_rng.manual_seed(int(cfg.RANDOM_SEED))
        self.epoch = 0            # next epoch to run
        self.step = 0             # generator steps so far
        self.gan_step = 0         # steps that may train the discriminators
        self.step_in_epoch = 0    # steps done in the current (unfinished) epoch
        self.skipped = 0
        self.best = {'P-MPJPE': float('inf'), 'MPJPE': float('inf'), 'epoch': -1}
        self.history = []
        self.writer = None
        self.optimizer_stage = None   # 'initial', then 'method' once a warm start's adv epochs end
        self.build_optimizers('initial')

    def build_optimizers(self, stage):
        """Fresh optimisers and schedulers (also at the warm-start switch, as a new run would)."""
        t = self.cfg.TRAIN
        betas = (0.5, 0.9)
        self.opt_g = torch.optim.Adam(self.model.parameters(), lr=t.POSE_LR, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=t.DIS_LR, betas=betas)
        self.opt_dt = torch.optim.Adam(self.Dt.parameters(), lr=t.TEMP_LR, betas=betas)
        mk = lambda o: torch.optim.lr_scheduler.StepLR(o, t.SCHEDULER_STEP_SIZE, t.SCHEDULER_GAMMA)
        self.sched = [mk(self.opt_g), mk(self.opt_d), mk(self.opt_dt)]
        self.optimizer_stage = stage

    def step_schedulers(self):
        """One StepLR step of all three schedulers.  With COMPAT.SCHEDULER_STEP_FIRST this comes
        before the epoch's first optimiser step, as in the original: PyTorch's warning about
        that order is silenced here, since the order is intended."""
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message=re.escape('Detected call of `lr_scheduler.step()` before'))
            for s in self.sched:
                s.step()

    def finite(self):
        """True when every weight and BatchNorm statistic of the models is finite (a state
        worth saving)."""
        with torch.no_grad():
            return all(bool(torch.isfinite(t).all()) for m in (self.model, self.D, self.Dt)
                       for t in (*m.parameters(), *m.buffers()) if t.is_floating_point())

    def autocast(self):
        """TRAIN.AMP: bf16 autocast of the training forward passes (on CUDA; on a CPU too, where
        it pays only with native bf16 instructions, e.g. AVX512-BF16 or AMX)."""
        if self.cfg.TRAIN.AMP and self.device.type in ('cuda', 'cpu'):
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def update_best(self, res, epoch, key='P-MPJPE'):
        """Record an evaluation; True when it is the new ``model_best``.

        As the original: the lowest ``key`` (P-MPJPE, or its mean of batch means), except
        for MPI-INF-3DHP (results with ``auc_p2``), where it is the highest AUC after rigid
        alignment.  The best MPJPE and P-MPJPE, and for MPI the best raw AUC (with its
        PCK), are tracked as well.
        """
        b = self.best
        better_p2 = res[key] < b.get(key, float('inf'))
        if better_p2:
            b.update({key: res[key], 'MPJPE_at_best': res['MPJPE'], 'epoch': epoch})
        b['P-MPJPE'] = min(b['P-MPJPE'], res['P-MPJPE'])
        b['MPJPE'] = min(b.get('MPJPE', float('inf')), res['MPJPE'])
        if 'auc_p2' not in res:
            return better_p2
        if res['auc'] > b.get('auc', 0.0):
            b.update({'auc': res['auc'], 'pckh5': res['pckh5']})
        if res['auc_p2'] > b.get('auc_p2', 0.0):
            b.update({'auc_p2': res['auc_p2'], 'pckh5_p2': res['pckh5_p2'], 'epoch_auc_p2': epoch})
            return True
        return False

    def describe_best(self, key='P-MPJPE'):
        """One line: the epoch ``model_best.pth.tar`` holds, by the rule of :meth:`update_best`,
        then the lowest P-MPJPE and MPJPE of any epoch (not necessarily that one)."""
        b = self.best
        if 'epoch_auc_p2' in b:
            chosen = 'epoch %d (AUC after alignment %.4f)' % (b['epoch_auc_p2'] + 1, b['auc_p2'])
        else:
            chosen = 'epoch %d (%s %.2f, MPJPE %.2f)' % (b['epoch'] + 1, key, b[key],
                                                         b.get('MPJPE_at_best', float('nan')))
        return 'model_best.pth.tar: %s; lowest of any epoch: P-MPJPE %.2f, MPJPE %.2f' % (
            chosen, b['P-MPJPE'], b['MPJPE'])

    def eval_model(self):
        return self.ema.module if self.ema is not None else self.model

    # -- checkpoints ---------------------------------------------------------
    def checkpoint(self, last=None):
        last = last or {}
        ck = {
            'epoch': self.epoch, **{k: self.best.get(k, 0) for k in ('auc', 'pckh5', 'auc_p2', 'pckh5_p2')},
            'p1_mpjpe': last.get('MPJPE', 0.0), 'p2_mpjpe': last.get('P-MPJPE', 0.0),
            'pose_model_state_dict': self.model.state_dict(),
            'discriminator_state_dict': self.D.state_dict(),
            'temp_discriminator_state_dict': self.Dt.state_dict(),
            'optimizer_g': self.opt_g.state_dict(), 'optimizer_d': self.opt_d.state_dict(),
            'optimizer_d_temp': self.opt_dt.state_dict(),
            'scheduler_g': self.sched[0].state_dict(), 'scheduler_d': self.sched[1].state_dict(),
            'scheduler_d_temp': self.sched[2].state_dict(),
            'config': to_dict(self.cfg),
            'scaler_bypassed': self.scaler_bypassed(),
            'train_state': {'epoch': self.epoch, 'step': self.step, 'gan_step': self.gan_step,
                            'step_in_epoch': self.step_in_epoch, 'skipped': self.skipped,
                            'best': dict(self.best), 'optimizer_stage': self.optimizer_stage,
                            'history': list(self.history),
                            # COMPAT.FROZEN_KEEP_MOMENTUM keeps zeroed .grad tensors between steps,
                            # and Adam moves every parameter that has one: remember which do
                            'grad_present': [n for n, p in self.model.named_parameters()
                                             if p.grad is not None]},
            'rng': {'torch': torch.get_rng_state(), 'gen': self.sampling_rng.get_state(),
                    'numpy': _np_state_to_tensors(), 'cuda': _cuda_states(),
                    'python': random.getstate()},
        }
        if self.ema is not None:
            ck['ema_state_dict'] = self.ema.state_dict()
        return ck

    def scaler_bypassed(self):
        """True while the weights are those of an adv warm-start epoch: the model has a scaler,
        but training (and its evaluation) bypassed it (s = 1), so it is still untrained.  Saved
        in the checkpoint, so that evaluating it later reproduces the number training printed."""
        trained = self.epoch if self.step_in_epoch else self.epoch - 1   # last epoch with steps
        return self.model.scaler is not None and epoch_scheme(self.cfg, max(trained, 0)) == 'adv'

    def restore(self, ck, path):
        fix = 'resume from output/<cfg>/checkpoint.pth.tar written by this project'
        load_state_strict(self.model, pose_state_dict(ck, path), path)
        ts = ck.get('train_state')
        if not isinstance(ts, dict):
            raise UserError('checkpoint has no training state to resume from', path,
                            fix + ' (use --pretrain to warm-start from weights only)')
        need = ('discriminator_state_dict', 'temp_discriminator_state_dict', 'optimizer_g', 'optimizer_d',
                'optimizer_d_temp', 'scheduler_g', 'scheduler_d', 'scheduler_d_temp', 'rng')
        missing = [k for k in need if k not in ck] + \
            ['train_state.' + k for k in ('epoch', 'step', 'gan_step', 'step_in_epoch', 'skipped', 'best')
             if k not in ts]
        if missing:
            raise UserError('checkpoint misses %s' % ', '.join(missing), path, fix)
        stage = ts.get('optimizer_stage', ts.get('opt_phase'))   # (the key's earlier name)
        if stage and stage != self.optimizer_stage:
            self.build_optimizers(stage)
        load_state_strict(self.D, ck['discriminator_state_dict'], path, 'discriminator')
        load_state_strict(self.Dt, ck['temp_discriminator_state_dict'], path, 'temporal discriminator')
        try:
            self.opt_g.load_state_dict(ck['optimizer_g'])
            self.opt_d.load_state_dict(ck['optimizer_d'])
            self.opt_dt.load_state_dict(ck['optimizer_d_temp'])
            for s, k in zip(self.sched, ('scheduler_g', 'scheduler_d', 'scheduler_d_temp')):
                s.load_state_dict(ck[k])
            if self.ema is not None:    # a run without EMA resumed with it: the average starts here
                self.ema.load_state_dict(ck['ema_state_dict'] if 'ema_state_dict' in ck else self.model.state_dict())
        except (ValueError, KeyError, RuntimeError, TypeError) as e:
            raise UserError('optimiser / scheduler / EMA state does not fit this run (%s)'
                            % str(e).split('\n')[0][:120], path,
                            'resume with the config the checkpoint was written with') from None
        self.epoch, self.step, self.gan_step = ts['epoch'], ts['step'], ts['gan_step']
        self.step_in_epoch, self.skipped = ts['step_in_epoch'], ts['skipped']
        self.best, self.history = dict(ts['best']), list(ts.get('history', []))
        if ts.get('grad_present') is not None:
            present = set(ts['grad_present'])
            for n, p in self.model.named_parameters():
                p.grad = torch.zeros_like(p) if n in present else None
        rng = ck['rng']
        torch.set_rng_state(rng['torch'])
        try:
            self.sampling_rng.set_state(rng['gen'])
        except (RuntimeError, ValueError, TypeError):   # e.g. a GPU run resumed on the CPU
            warnings.warn('the checkpoint\'s sampling RNG is of another device type: reseeding it, so '
                          'the resumed run will not repeat the original exactly')
            self.sampling_rng.manual_seed(int(self.cfg.RANDOM_SEED) * 100003 + int(self.step))
        _np_state_from_tensors(rng['numpy'])
        if rng.get('python') is not None:
            random.setstate(_as_tuple(rng['python']))
        if rng.get('cuda') is not None and torch.cuda.is_available():
            try:
                torch.cuda.set_rng_state_all(rng['cuda'])
            except (RuntimeError, ValueError):
                pass


def _as_tuple(x):
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


def _np_state_to_tensors():
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {'keys': torch.from_numpy(keys.astype(np.int64)), 'pos': int(pos),
            'has_gauss': int(has_gauss), 'cached': float(cached)}


def _np_state_from_tensors(s):
    np.random.set_state(('MT19937', s['keys'].numpy().astype(np.uint32), s['pos'], s['has_gauss'],
                         s['cached']))


def _cuda_states():
    if torch.cuda.is_available():
        return torch.cuda.get_rng_state_all()
    return None
