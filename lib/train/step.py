"""The training step and the epoch loop, top to bottom.

The scheme of an epoch and the phase of each step (what it trains) come from
:mod:`lib.train.schedule`.

One step (:func:`train_step`):

1. the phase from the step's index in the epoch; ``requires_grad`` on lifter / scaler for it;
2. :func:`generator_losses`: the phase's forward passes and weighted loss terms;
3. a non-finite loss is skipped or stops the run (``TRAIN.NONFINITE``);
4. backward, ``opt_g.step()``, EMA update;
5. after a joint / mainnet / adv step, every ``NUM_CRITICS``-th of them in the epoch, a
   discriminator step on a fresh, gradient-free generator forward (:func:`discriminator_step`).

An epoch (:func:`train_epoch`) shuffles, gathers each batch and runs the step; step and
discriminator counters restart at every epoch, as the original's.  After the last step,
``COMPAT.EPOCH_END_FORWARD`` repeats the original's extra training-mode forward.
"""
import time
from dataclasses import dataclass

import torch

from lib.data.batches import supervised_target
from lib.data.skeleton import ROOT
from lib.models.discriminator import temporal_input
from lib.train import losses as L
from lib.train.schedule import (batch_needs, epoch_permutation, epoch_scheme, freeze_lifter_mode, has_scaler,
                                 set_trainable, step_phase, steps_per_epoch, tmc_mode)
from lib.utils import distributed as dist


class NonFiniteLoss(Exception):
    def __init__(self, term, step):
        super().__init__('loss term %r became non-finite at step %d' % (term, step))
        self.term, self.step = term, step


# --- schedule -----------------------------------------------------------------


# --- losses of one step -------------------------------------------------------

def _kl_term(cfg, phase, out, out_far):
    """The scaler's KL term (unweighted) of a step: the batch's scale_mid (with the partner's,
    by COMPAT.KL_ON_DIFF2) against the prior N(DATA.SCALE_MID_MEAN, DATA.SCALE_MID_STD^2)."""
    mode = cfg.COMPAT.KL_ON_DIFF2
    two = (mode == 'always') or (mode == 'by_scheme' and phase in ('subnet', 'scale_fit'))
    values = out.scale_mid
    if two and out_far is not None:
        values = torch.cat([out.scale_mid, out_far.scale_mid], 0)
    return L.loss_kl_scale(values, cfg.DATA.SCALE_MID_MEAN, cfg.DATA.SCALE_MID_STD, cfg.TRAIN.SCALER_MEAN_ONLY)


def generator_losses(model, D, Dt, batch, cfg, phase, scheme_name, flow=None, elev=None):
    """Weighted loss terms of one generator step, as a dict name -> (weight, value).

    The forward passes run in the original's order (x, then the bone partner, then the
    temporal neighbour), since each one moves the BatchNorm statistics and draws dropout
    masks.  ``model`` is the pose model or its DistributedDataParallel wrapper: it is only
    called.  ``flow``: the frozen 2D pose prior of ``TRAIN.FLOW_WEIGHT`` (lib/train/flow_prior.py),
    or None; ``elev``: the learned elevation distribution of ``TRAIN.ELEV_SAMPLING: learned``
    (lib/train/elevation.py; the main lift is observed, to be committed once the step is taken),
    or None."""
    t = cfg.TRAIN
    w3d, w2d, wgan, wtemp = t.LOSS_WEIGHTS
    ws, wbone = t.SCALE_LOSS_WEIGHTS[:2]
    terms = {}
    if phase == 'supervised':
        Y = model(batch.x).est_3d
        pred = Y - Y[:, ROOT:ROOT + 1]
        terms['sup3d'] = (1.0, L.loss_supervised(pred, supervised_target(batch.gt_3d)))
        return terms

    if phase == 'scale_fit':
        return scale_fit_losses(model, batch, cfg)
    use_scaler = has_scaler(model) and phase != 'adv'      # adv: the scaler is bypassed (s = 1)
    rot = batch_rotations(batch, elev)
    out = model(batch.x, rot, use_scaler=use_scaler)
    if elev is not None:
        elev.observe(out.est_3d)
    # the bone partner is lifted for the scaler's losses only (subnet steps, joint steps)
    out_far = None
    if use_scaler and phase in ('subnet', 'joint') and batch.x_far is not None:
        out_far = model(batch.x_far, rot, use_scaler=use_scaler)

    if phase == 'subnet':
        if cfg.TRAIN.LEARN_SYMMETRY:
            terms['kl'] = (ws, _kl_term(cfg, phase, out, out_far))
        terms['bone'] = (wbone, L.loss_bone(out.est_3d, out_far.est_3d, cfg.COMPAT.BONE_LOSS))
        return terms

    target_2d = batch.x if cfg.COMPAT.L2D_TARGET_UNSCALED else out.lifter_in
    terms['l3d'] = (w3d, L.loss_3d(out.tran_3d, out.recn_3d))
    terms['l2d'] = (w2d, L.loss_2d(out.recn_2d, target_2d))
    if t.USE_DIS:
        terms['gan'] = (wgan, L.lsgan_g(D(out.proj_2d)))
    if t.SYMMETRY_WEIGHT:
        terms['sym'] = (t.SYMMETRY_WEIGHT, L.loss_symmetry(out.est_3d))
    if t.PROPORTION_WEIGHT:
        terms['prop'] = (t.PROPORTION_WEIGHT, L.loss_proportions(out.est_3d))
    if flow is not None and t.FLOW_WEIGHT:
        terms['flow'] = (t.FLOW_WEIGHT, flow.nll(out.proj_2d).mean())
    out_nb = None
    if phase != 'adv' and (t.USE_TEMP or t.USE_NEW_TEMP) and batch.x_nb is not None:
        out_nb = model(batch.x_nb, rot, use_scaler=use_scaler)
        if t.USE_TEMP:
            fake = temporal_input(out.proj_2d, out_nb.proj_2d, t.CAT_CURRENT)
            terms['temp_gan'] = (wtemp, L.lsgan_g(Dt(fake)))
        else:
            terms['tmc'] = (wtemp, L.loss_tmc(out, out_nb, tmc_mode(cfg, scheme_name)))
    if phase == 'joint':
        _joint_scaler_terms(model, batch, cfg, terms, out, out_far, out_nb, use_scaler, rot)
    return terms


def batch_rotations(batch, elev=None):
    """What the pose model gets as the batch's rotation: the angles, or with a learned elevation
    the function of the lift that gives them (lib/train/elevation.py)."""
    if elev is None or batch.rot is None:
        return batch.rot
    return elev.rotations(batch.rot)


def scale_fit_losses(model, batch, cfg):
    """The ``scale_fit`` step: lift the frame and its bone partner as at test time (no rotation
    cycle), and weigh the scaler's two terms: the KL of the batch's scale_mid (both frames) against
    the prior, and bone consistency between the two scaled lifts."""
    ws, wbone = cfg.TRAIN.SCALE_LOSS_WEIGHTS[:2]
    out = model(batch.x, use_scaler=True)
    out_far = model(batch.x_far, use_scaler=True)
    return {'kl': (ws, _kl_term(cfg, 'scale_fit', out, out_far)),
            'bone': (wbone, L.loss_bone(out.est_3d, out_far.est_3d, cfg.COMPAT.BONE_LOSS))}


def _joint_scaler_terms(model, batch, cfg, terms, out, out_far, out_nb, use_scaler, rot):
    """The joint scheme's bone terms (its own forward on the partner for USE_BONE_NOSCALE,
    as the original) and the scaler's KL + bone terms."""
    t = cfg.TRAIN
    ws, wbone = t.SCALE_LOSS_WEIGHTS[:2]
    if t.USE_BONE_NOSCALE and batch.x_far is not None:
        far2 = model(batch.x_far, rot, use_scaler=use_scaler)
        terms['bone_noscale'] = (1.0, L.loss_bone(out.est_3d, far2.est_3d, cfg.COMPAT.BONE_LOSS))
    if use_scaler and out_far is not None:
        terms['kl'] = (ws, _kl_term(cfg, 'joint', out, out_far))
        partner = out_nb if (out_nb is not None and cfg.COMPAT.JOINT_BONE_ON_NEIGHBOUR) else out_far
        terms['bone'] = (wbone, L.loss_bone(out.est_3d, partner.est_3d, cfg.COMPAT.BONE_LOSS))


def discriminator_step(model, D, Dt, opt_d, opt_dt, batch, cfg, step_count, use_scaler, elev=None):
    """LSGAN steps of the pose D (and temporal D) on a fresh generator forward.

    ``model``, ``D`` and ``Dt`` may be DistributedDataParallel wrappers (only called)."""
    t = cfg.TRAIN
    logs = {}
    rot = batch_rotations(batch, elev)
    if t.USE_DIS and step_count % t.NUM_CRITICS == 0:
        with torch.no_grad():
            out = model(batch.x, rot, use_scaler=use_scaler)
        real = out.lifter_in if t.DIS_REAL_SCALED else batch.x
        opt_d.zero_grad(set_to_none=True)
        ld = L.lsgan_d(D(real), D(out.proj_2d))
        ld.backward()
        opt_d.step()
        logs['d'] = ld.detach()
    if t.USE_TEMP and batch.x_nb is not None and step_count % t.NUM_CRITICS_TEMP == 0:
        with torch.no_grad():
            out = model(batch.x, rot, use_scaler=use_scaler)
            out_nb = model(batch.x_nb, rot, use_scaler=use_scaler)
        real = temporal_input(batch.x, batch.x_nb, t.CAT_CURRENT)
        fake = temporal_input(out.proj_2d, out_nb.proj_2d, t.CAT_CURRENT)
        opt_dt.zero_grad(set_to_none=True)
        ldt = L.lsgan_d(Dt(real), Dt(fake))
        ldt.backward()
        opt_dt.step()
        logs['d_temp'] = ldt.detach()
    return logs


# --- one step -----------------------------------------------------------------

@dataclass
class StepResult:
    """What one training step did: its phase, which parts it trained, its generator loss terms
    (name -> (weight, value)) and total, and the discriminator losses (empty without a D step)."""
    phase: str
    lifter_on: bool
    scaler_on: bool
    terms: dict
    loss: torch.Tensor
    d_losses: dict

    def trains(self, has_scaler_module=True):
        on = (('lifter', self.lifter_on), ('scaler', self.scaler_on and has_scaler_module))
        return '+'.join(n for n, flag in on if flag) or 'none'


def train_step(state, batch, cfg, scheme_name, k, check_finite=True, logger=None):
    """One training step (generator, then discriminators) on ``batch``: the epoch's ``k``-th.

    Returns a :class:`StepResult`, or None when ``TRAIN.NONFINITE: skip`` skipped the batch;
    raises :class:`NonFiniteLoss` on a non-finite loss otherwise.  ``check_finite=False``
    (the speed benchmark's compute floor) leaves out the finiteness check and its sync.
    Counts ``state.step``; the epoch's own counters are the caller's."""
    model = state.model
    phase, lifter_on, scaler_on = step_phase(cfg, scheme_name, k)
    set_trainable(model, lifter_on, scaler_on)
    # a step with a non-finite loss is not taken (skipped, or the run stops at the last good
    # state), but its forward passes have already moved the BatchNorm running statistics
    # (possibly to NaN): keep a copy to put back
    buffers = [b.clone() for b in model.buffers()] if check_finite else None
    with state.autocast():
        # the generator's GAN terms go through the plain discriminators: their gradients
        # are never used (the D step zeroes them), so they are not synchronised
        terms = generator_losses(state.fwd_model, state.D, state.Dt, batch, cfg, phase, scheme_name,
                                 flow=state.flow, elev=state.elev)
        loss = sum(w * v for w, v in terms.values())
    if check_finite and dist.any_rank(not torch.isfinite(loss)):   # all ranks skip / stop together
        return _nonfinite(state, cfg, terms, buffers, logger)
    state.step += 1
    if state.elev is not None:
        state.elev.commit()                       # the lifts' elevations of a step that is taken
    state.opt_g.zero_grad(set_to_none=not cfg.COMPAT.FROZEN_KEEP_MOMENTUM)
    loss.backward()
    state.opt_g.step()
    if state.ema is not None:
        state.ema.update(model)
    d_losses = {}
    if phase in ('joint', 'mainnet', 'adv'):      # the discriminators follow the lifter's steps
        with state.autocast():
            d_losses = discriminator_step(state.fwd_model, state.fwd_D, state.fwd_Dt, state.opt_d,
                                          state.opt_dt, batch, cfg, state.gan_step, phase != 'adv', state.elev)
        state.gan_step += 1
    return StepResult(phase, lifter_on, scaler_on, terms, loss, d_losses)


def _nonfinite(state, cfg, terms, buffers, logger):
    """A non-finite loss: the BatchNorm statistics go back to before the step; then skip the
    step when ``TRAIN.NONFINITE: skip`` and the weights are still finite, else raise (the
    caller saves the state as it was before this step)."""
    bad = next((n for n, (w, v) in terms.items() if not torch.isfinite(w * v).all()), 'total')
    with torch.no_grad():
        for b, saved in zip(state.model.buffers(), buffers):
            b.copy_(saved)
    if cfg.TRAIN.NONFINITE == 'skip' and state.finite():   # broken weights: no use skipping
        state.skipped += 1
        if logger:
            logger.warning('skipped step %d: loss term %r is not finite' % (state.step, bad))
        state.step += 1                           # a skipped step still counts
        return None
    raise NonFiniteLoss(bad, state.step)


# --- one epoch ----------------------------------------------------------------


def train_epoch(state, data, cfg, epoch, progress=None, logger=None, stop_flag=None,
                on_checkpoint=None):
    """Run (the rest of) one epoch of :func:`train_step` on shuffled batches of ``data``.

    Returns 'done', or 'stopped' when ``stop_flag()`` asked to stop: checked after each step
    (never before the first, so a stopped epoch has ``step_in_epoch > 0``; the last step of an
    epoch also finishes the epoch, and the caller stops at the epoch boundary)."""
    scheme_name = epoch_scheme(cfg, epoch)
    need = batch_needs(cfg, scheme_name)
    B = cfg.BATCH_SIZE
    perm = epoch_permutation(len(data), cfg.RANDOM_SEED, epoch, state.rank, state.world,
                             data.pose_2d.device)
    n_steps = steps_per_epoch(len(data), cfg, state.world)
    if state.step_in_epoch == 0:
        state.gan_step = 0                        # the discriminator cadence restarts per epoch
    state.model.train(); state.D.train(); state.Dt.train()
    if scheme_name == 'scale_fit':
        freeze_lifter_mode(state.model)
    t0 = time.time()
    for k in range(state.step_in_epoch, n_steps):
        batch = data.batch(perm[k * B:(k + 1) * B], cfg, state.sampling_rng, need.neighbour,
                           need.partner, need_gt=(scheme_name == 'supervised'))
        result = train_step(state, batch, cfg, scheme_name, k, logger=logger)
        state.step_in_epoch = k + 1
        last = k == n_steps - 1
        if result is not None:
            _log_step(state, cfg, epoch, last, result, progress, logger)
            if on_checkpoint is not None and cfg.TRAIN.CHECKPOINT_EVERY and not last and \
                    state.step % cfg.TRAIN.CHECKPOINT_EVERY == 0:
                on_checkpoint()
        if progress is not None:
            progress.update(1)
        if stop_flag is not None and not last and stop_flag():
            return 'stopped'
    if cfg.COMPAT.EPOCH_END_FORWARD:
        idx = torch.randperm(len(data), generator=state.sampling_rng, device=data.pose_2d.device)[:B]
        epoch_end_forward(state, data.batch(idx, cfg, state.sampling_rng), scheme_name)
    state.epoch_seconds = time.time() - t0
    return 'done'


def epoch_end_forward(state, batch, scheme_name):
    """COMPAT.EPOCH_END_FORWARD: the original's end-of-epoch figure lifts the first batch of
    a freshly shuffled pass (``batch``) in training mode, without gradients; only its effect
    on the BatchNorm running statistics (and the dropout RNG) remains, and that is reproduced."""
    use_scaler = state.model.scaler is not None and scheme_name != 'adv'
    model = state.model
    keep = state.cfg.TRAIN.NONFINITE == 'skip'      # a non-finite batch leaves no trace
    buffers = [b.clone() for b in model.buffers()] if keep else None
    with torch.no_grad(), state.autocast():
        model(batch.x, batch_rotations(batch, state.elev), use_scaler=use_scaler)
        if keep and not all(bool(torch.isfinite(b).all()) for b in model.buffers() if b.is_floating_point()):
            for b, saved in zip(model.buffers(), buffers):
                b.copy_(saved)


def _log_step(state, cfg, epoch, last, result, progress, logger):
    """Every PRINT_INTERVAL-th step and the epoch's last: losses to tensorboard, the progress
    bar and the debug log."""
    if state.writer is None or not (state.step % cfg.PRINT_INTERVAL == 0 or last):
        return
    vals = {n: float(v.detach()) for n, (w, v) in result.terms.items()}
    vals['total'] = float(result.loss.detach())
    vals.update({n: float(v) for n, v in result.d_losses.items()})
    for n, v in vals.items():
        state.writer.add_scalar('train/%s' % n, v, state.step)
    state.writer.add_scalar('train/lr', state.opt_g.param_groups[0]['lr'], state.step)
    trains = result.trains(state.model.scaler is not None)
    if progress is not None:
        progress.set_postfix(phase=result.phase, trains=trains, loss='%.4f' % vals['total'])
    if logger is not None and state.rank == 0:
        logger.debug('epoch %d step %d phase %s trains %s %s' % (
            epoch, state.step, result.phase, trains, ' '.join('%s=%.5f' % kv for kv in vals.items())))
