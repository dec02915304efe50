"""The training schedule: which scheme an epoch trains, which phase each step is, what it needs.

* **scheme** -- how an epoch trains (:func:`epoch_scheme`): ``adv`` (the baseline: cycle + GAN,
  scaler bypassed; also the ``TRAIN.WARM_START_EPOCHS`` of a warm start), ``joint`` (all losses
  in every step, the original's function1), ``alternating`` (``USE_CYCLE``: the original's
  function2), ``scale_fit`` (``TRAIN.FREEZE_LIFTER``, new: the scaler alone learns KL + bone on
  a frozen lifter in eval mode, so the lifter's structure is kept exactly) or ``supervised``
  (the reference model, L2 on 3D labels).
* **phase** -- what one step of that scheme trains (:func:`step_phase`): in the alternating
  scheme ``SUBNET_CRITICS`` ``subnet`` steps (scaler: KL + bone) then ``MAINNET_CRITICS``
  ``mainnet`` steps (lifter: cycle + GAN + temporal), with the original's off-by-one
  (``COMPAT.ALTERNATE_OFF_BY_ONE``: the first mainnet step still trains the scaler only); in
  the other schemes the phase is the scheme.
* **needs** -- which extra frames a step of a scheme gathers (:func:`batch_needs`).
* the epoch's shuffled order and its length (:func:`epoch_permutation`, :func:`steps_per_epoch`).

The step itself, and the epoch loop: :mod:`lib.train.step`.
"""
import math
from typing import NamedTuple

import torch


def epoch_scheme(cfg, epoch):
    """The training scheme of ``epoch``: 'supervised', 'adv', 'joint' or 'alternating'."""
    if cfg.TRAIN.SUPERVISED:
        return 'supervised'
    if epoch < cfg.TRAIN.WARM_START_EPOCHS:
        return 'adv'
    if cfg.TRAIN.FREEZE_LIFTER:
        return 'scale_fit'
    return 'alternating' if cfg.TRAIN.USE_CYCLE else 'joint'


def step_phase(cfg, scheme_name, k):
    """(phase, lifter trainable, scaler trainable) of the epoch's ``k``-th step."""
    if scheme_name == 'scale_fit':
        return scheme_name, False, True
    if scheme_name != 'alternating':
        return scheme_name, True, True
    S, M = cfg.TRAIN.SUBNET_CRITICS, cfg.TRAIN.MAINNET_CRITICS
    rem = k % (S + M)
    lifter_on = rem > S if cfg.COMPAT.ALTERNATE_OFF_BY_ONE else rem >= S
    return ('subnet' if rem < S else 'mainnet'), lifter_on, not lifter_on


def set_trainable(model, lifter_on, scaler_on):
    for name in ('lifter_before', 'lifter_after'):
        for p in getattr(model, name).parameters():
            p.requires_grad_(lifter_on)
    if model.scaler is not None:
        for p in model.scaler.parameters():
            p.requires_grad_(scaler_on)


def tmc_mode(cfg, scheme_name):
    """COMPAT.TMC_FRAME, or the original YAML's FIX_TRAJ flags (live only in the alternating file)."""
    if cfg.COMPAT.TMC_FRAME != 'as_written' or scheme_name != 'alternating' or not cfg.FIX.FIX_TRAJ:
        return cfg.COMPAT.TMC_FRAME
    return 'recovered' if cfg.FIX.FIX_TRAJ_BY_ROT else 'magnitude_first3'


class BatchNeeds(NamedTuple):
    neighbour: bool     # the TMC / temporal-discriminator neighbour frame (x_nb)
    partner: bool       # the bone partner of the scaler's losses (x_far)


def batch_needs(cfg, scheme_name):
    """Which extra frames each batch of this scheme gathers besides ``x``."""
    t = cfg.TRAIN
    losses = scheme_name in ('joint', 'alternating')
    return BatchNeeds(losses and bool(t.USE_TEMP or t.USE_NEW_TEMP),
                      scheme_name == 'scale_fit' or (losses and bool(t.USE_SCALER or t.USE_BONE_NOSCALE)))


def freeze_lifter_mode(model):
    """The ``scale_fit`` scheme: the lifter runs in eval mode (no dropout, BatchNorm on its
    running statistics, which stay as they are), exactly as it lifts at test time."""
    model = getattr(model, 'module', model)
    model.lifter_before.eval()
    model.lifter_after.eval()


def has_scaler(model):
    """Whether the pose model (or the DistributedDataParallel wrapper around it) has a scaler."""
    return getattr(model, 'module', model).scaler is not None


def epoch_permutation(n, seed, epoch, rank=0, world=1, device='cpu'):
    """This epoch's shuffled order (this rank's share), reproducible from (seed, epoch)."""
    g = torch.Generator()
    g.manual_seed(int(seed) * 100003 + int(epoch))
    perm = torch.randperm(n, generator=g)
    if world > 1:
        per = n // world
        perm = perm[:per * world][rank::world]
    return perm.to(device)


def steps_per_epoch(n, cfg, world=1):
    per = n // world if world > 1 else n
    s = math.ceil(per / cfg.BATCH_SIZE)
    return min(s, cfg.TRAIN.MAX_STEPS_PER_EPOCH) if cfg.TRAIN.MAX_STEPS_PER_EPOCH else s
