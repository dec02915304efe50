"""The training step (lib/train/step.py): the alternating scheme's phases and what each
trains, frozen parameters and Adam's momentum, the loss targets, the discriminator's real
samples, a skipped step."""
import numpy as np
import pytest
import torch

from helpers import tiny_cfg, tiny_split
from lib.config.defaults import get_default
from lib.data.formats import pose_model_args
from lib.models.pose_model import PoseModel
from lib.train import step as T
from lib.train import schedule as TS

# one thread: bitwise-repeatable sums, and no thread contention on a busy machine
pytestmark = pytest.mark.usefixtures('one_thread')


# --- the alternating scheme --------------------------------------------------------

def _grads_after(cfg, phase_step):
    from lib.data.batches import Batch
    from lib.models.discriminator import get_discriminator
    torch.manual_seed(0)
    m = PoseModel(cfg, **pose_model_args(cfg))
    D, Dt = get_discriminator(cfg), get_discriminator(cfg, True)
    sch = TS.epoch_scheme(cfg, 0)
    phase, lon, son = TS.step_phase(cfg, sch, phase_step)
    TS.set_trainable(m, lon, son)
    b = Batch(torch.randn(8, 17, 2) * 0.03, torch.rand(8, 3), torch.randn(8, 17, 2) * 0.03,
              torch.randn(8, 17, 2) * 0.03, None, torch.arange(8))
    terms = T.generator_losses(m, D, Dt, b, cfg, phase, sch)
    sum(w * v for w, v in terms.values()).backward()
    got = lambda mod: any(p.grad is not None and p.grad.abs().sum() > 0 for p in mod.parameters())
    return phase, got(m.lifter_before) or got(m.lifter_after), got(m.scaler), set(terms)


@pytest.mark.parametrize('off_by_one', [True, False])
def test_alternating_phases_train_the_right_modules(off_by_one):
    cfg = get_default()
    cfg.NETWORK.NUM_CHANNELS = 16; cfg.NETWORK.LIFTER_RES_BLOCKS = 1
    cfg.TRAIN.USE_SCALER = True; cfg.TRAIN.USE_CYCLE = True; cfg.TRAIN.USE_NEW_TEMP = True
    cfg.COMPAT.ALTERNATE_OFF_BY_ONE = off_by_one
    phase, lifter, scaler, terms = _grads_after(cfg, 0)
    assert phase == 'subnet' and not lifter and scaler and terms == {'kl', 'bone'}
    phase, lifter, scaler, terms = _grads_after(cfg, 1)
    assert phase == 'mainnet' and {'l3d', 'l2d', 'gan', 'tmc'} == terms
    if off_by_one:      # the original: rem > S is never true with S = M = 1, the lifter stays frozen
        assert not lifter and scaler
    else:
        assert lifter and not scaler


def test_joint_scheme_trains_everything():
    cfg = get_default()
    cfg.NETWORK.NUM_CHANNELS = 16; cfg.NETWORK.LIFTER_RES_BLOCKS = 1
    cfg.TRAIN.USE_SCALER = True; cfg.TRAIN.USE_NEW_TEMP = True
    phase, lifter, scaler, terms = _grads_after(cfg, 0)
    assert phase == 'joint' and lifter and scaler
    assert terms == {'l3d', 'l2d', 'gan', 'tmc', 'kl', 'bone'}


@pytest.mark.parametrize('off_by_one', [True, False])
def test_alternating_schedule_of_one_subnet_and_four_mainnet_steps(off_by_one):
    """SUBNET_CRITICS 1, MAINNET_CRITICS 4 (the authors' alternating configs): a period of 5
    steps, a subnet step (the scaler trained) then 4 mainnet steps.  The original's test
    ``rem > S`` leaves the lifter frozen, and the scaler trained on the mainnet losses, at
    rem == S = 1 (COMPAT.ALTERNATE_OFF_BY_ONE); ``rem >= S`` trains the lifter there."""
    cfg = tiny_cfg('TRAIN.SUBNET_CRITICS', '1', 'TRAIN.MAINNET_CRITICS', '4', 'TRAIN.USE_SCALER', 'true',
                   'TRAIN.USE_CYCLE', 'true', 'TRAIN.USE_NEW_TEMP', 'true',
                   'COMPAT.ALTERNATE_OFF_BY_ONE', str(off_by_one).lower())
    second = ('mainnet', False, True) if off_by_one else ('mainnet', True, False)
    period = [('subnet', False, True), second] + [('mainnet', True, False)] * 3
    assert [TS.step_phase(cfg, 'alternating', k) for k in range(10)] == period * 2
    assert TS.step_phase(cfg, 'joint', 3) == ('joint', True, True)
    for k in (1, 6):                                 # the real gradients at rem == S
        phase, lifter, scaler, terms = _grads_after(cfg, k)
        assert phase == 'mainnet' and (lifter, scaler) == second[1:] and 'kl' not in terms
    assert _grads_after(cfg, 2)[1:3] == (True, False)


def _eval_state(*opts):
    """A tiny TrainState whose networks run in eval mode (no dropout, BatchNorm on its running
    statistics): every forward of a batch gives the same numbers."""
    from lib.train.state import TrainState, seed_everything
    seed_everything(0)
    st = TrainState(tiny_cfg('TRAIN.USE_SCALER', 'true', *opts), torch.device('cpu'))
    for m in (st.model, st.D, st.Dt):
        m.eval()
    return st


def _random_batch(n=8, seed=0):
    from lib.data.batches import Batch
    g = torch.Generator().manual_seed(seed)
    pose = lambda: torch.randn(n, 17, 2, generator=g) * 0.05
    return Batch(pose(), torch.rand(n, 3, generator=g) - 0.5, pose(), pose(), None, torch.arange(n))


@pytest.mark.parametrize('keep', [True, False])
def test_frozen_parameters_and_adam_momentum(keep):
    """COMPAT.FROZEN_KEEP_MOMENTUM: the original (old PyTorch) zeroed the gradients of frozen
    parameters and Adam still stepped them on its momentum.  Steps: subnet (lifter frozen),
    mainnet (the lifter's first gradient g), subnet again: with the switch the lifter moves by
    Adam's second step with a zero gradient, lr m^ / (sqrt(v^) + eps), m^ = b1 (1 - b1) g /
    (1 - b1^2), v^ = b2 (1 - b2) g^2 / (1 - b2^2); without it, not at all."""
    st = _eval_state('TRAIN.USE_CYCLE', 'true', 'COMPAT.ALTERNATE_OFF_BY_ONE', 'false',
                     'COMPAT.FROZEN_KEEP_MOMENTUM', str(keep).lower())
    lifter = [p for n, p in st.model.named_parameters() if n.startswith('lifter_')]
    b = _random_batch()
    T.train_step(st, b, st.cfg, 'alternating', 0)
    T.train_step(st, b, st.cfg, 'alternating', 1)
    g = [p.grad.detach().clone() for p in lifter]
    before = [p.detach().clone() for p in lifter]
    T.train_step(st, b, st.cfg, 'alternating', 2)
    group = st.opt_g.param_groups[0]
    lr, (b1, b2), eps = group['lr'], group['betas'], group['eps']
    assert group['weight_decay'] == 0 and not group['amsgrad']
    assert sum(float(x.abs().sum()) for x in g) > 0
    for p, p0, gi in zip(lifter, before, g):
        gi = gi.double()
        m_hat = b1 * (1 - b1) * gi / (1 - b1 ** 2)
        v_hat = b2 * (1 - b2) * gi ** 2 / (1 - b2 ** 2)
        step = lr * m_hat / (v_hat.sqrt() + eps) if keep else torch.zeros_like(gi)
        assert float(m_hat.abs().max()) == 0 or lr * 0.3 < float((lr * m_hat / (v_hat.sqrt() + eps)).abs().max())
        # float32 weights: the difference of two is good to about 1e-7
        torch.testing.assert_close((p0.double() - p.detach().double()), step, rtol=1e-3, atol=2e-7)


@pytest.mark.parametrize('unscaled', [True, False])
def test_l2d_target_is_the_unscaled_or_the_scaled_input(unscaled):
    """COMPAT.L2D_TARGET_UNSCALED: the 2D cycle loss compares the reprojection with the input x
    (the original) or with s * x, the 2D the lifter saw."""
    st = _eval_state('COMPAT.L2D_TARGET_UNSCALED', str(unscaled).lower())
    b = _random_batch()
    with torch.no_grad():
        terms = T.generator_losses(st.model, st.D, st.Dt, b, st.cfg, 'joint', 'joint')
        recn_2d = st.model(b.x, b.rot).recn_2d.numpy()
        scale, _ = st.model.scaler(b.x)
    x, sx = b.x.numpy(), (b.x * scale[:, :, None]).numpy()
    err = lambda target: np.linalg.norm(recn_2d - target, axis=-1).mean()
    assert terms['l2d'][1].item() == pytest.approx(err(x if unscaled else sx), rel=1e-5)
    assert abs(err(x) - err(sx)) > 1e-3 * err(x)


@pytest.mark.parametrize('mode,phase,both', [('by_scheme', 'subnet', True), ('by_scheme', 'joint', False),
                                             ('always', 'joint', True), ('never', 'subnet', False)])
def test_kl_term_takes_the_bone_partners_scales_too(mode, phase, both):
    """COMPAT.KL_ON_DIFF2: the KL prior's batch is the B scale_mid values of the batch, or
    those and the B of the bone partners (the original: in its alternating scheme only)."""
    scheme_name = 'alternating' if phase == 'subnet' else 'joint'
    st = _eval_state('TRAIN.USE_CYCLE', str(phase == 'subnet').lower(), 'COMPAT.KL_ON_DIFF2', mode)
    b = _random_batch()
    with torch.no_grad():
        terms = T.generator_losses(st.model, st.D, st.Dt, b, st.cfg, phase, scheme_name)
        mids = [st.model.scaler(b.x)[1], st.model.scaler(b.x_far)[1]]
    v = torch.cat(mids if both else mids[:1]).double().numpy().ravel()
    assert len(v) == (16 if both else 8)
    mu, sd = v.mean(), v.std(ddof=1)
    pm, ps = st.cfg.DATA.SCALE_MID_MEAN, st.cfg.DATA.SCALE_MID_STD
    want = np.log(ps / sd) + (sd ** 2 + (mu - pm) ** 2) / (2 * ps ** 2) - 0.5
    assert terms['kl'][1].item() == pytest.approx(want, rel=1e-4)


@pytest.mark.parametrize('scaled', [False, True])
def test_discriminator_real_samples_scaled_or_not(scaled):
    """TRAIN.DIS_REAL_SCALED: the discriminator's real samples are the input x (the original)
    or s * x; its loss mean((D(real) - 1)^2) + mean(D(fake)^2), fake the cycle's projection."""
    st = _eval_state('TRAIN.DIS_REAL_SCALED', str(scaled).lower(), 'TRAIN.NUM_CRITICS', '1')
    b = _random_batch()
    with torch.no_grad():
        fake = st.model(b.x, b.rot).proj_2d
        sx = b.x * st.model.scaler(b.x)[0][:, :, None]
        d = lambda real: float(((st.D(real) - 1) ** 2).mean() + (st.D(fake) ** 2).mean())
        want, other = (d(sx), d(b.x)) if scaled else (d(b.x), d(sx))
    logs = T.discriminator_step(st.model, st.D, st.Dt, st.opt_d, st.opt_dt, b, st.cfg, 0, True)
    assert logs['d'].item() == pytest.approx(want, rel=1e-5) and abs(want - other) > 1e-6


def test_skipped_step_leaves_no_trace_in_batchnorm_statistics():
    """TRAIN.NONFINITE skip: a batch with a NaN pose is skipped, and the BatchNorm running
    statistics its forward passes touched are put back (weights and buffers unchanged)."""
    from lib.train.state import TrainState, seed_everything
    seed_everything(0)
    cfg = tiny_cfg('TRAIN.NONFINITE', 'skip', 'TRAIN.MAX_STEPS_PER_EPOCH', '1', 'BATCH_SIZE', '64')
    state = TrainState(cfg, torch.device('cpu'))
    before = {k: v.clone() for k, v in state.model.state_dict().items()}
    data = tiny_split(64)
    data.pose_2d[7] = float('nan')
    assert T.train_epoch(state, data, cfg, 0) == 'done' and state.skipped == 1
    for k, v in state.model.state_dict().items():
        assert torch.equal(v, before[k]), k


# --- the structure candidates (docs/STRUCTURE_STUDY.md): off by default, and additive when on ---------------

def _fresh(cfg):
    """A fresh tiny model and discriminators, and a fixed batch (x, rot); all seeded."""
    from lib.models.discriminator import get_discriminator
    torch.manual_seed(0)
    m = PoseModel(cfg, **pose_model_args(cfg))
    D, Dt = get_discriminator(cfg), get_discriminator(cfg, True)
    g = torch.Generator().manual_seed(1)
    return m, D, Dt, torch.randn(8, 17, 2, generator=g) * 0.03, torch.rand(8, 3, generator=g)


def _adv_terms(cfg, rot=None, **candidates):
    """The generator terms of one adv step of :func:`_fresh` (``rot``: other angles)."""
    from lib.data.batches import Batch
    m, D, Dt, x, r = _fresh(cfg)
    b = Batch(x, r if rot is None else rot, None, None, None, torch.arange(8))
    return T.generator_losses(m, D, Dt, b, cfg, 'adv', 'adv', **candidates)


def test_candidate_terms_are_off_by_default_and_leave_the_others_bit_for_bit():
    """Defaults: exactly the authors' adv terms.  TRAIN.SYMMETRY_WEIGHT on: one more term
    ('sym', with its weight), every other term the same to the last bit."""
    cfg = tiny_cfg()
    base = _adv_terms(cfg)
    assert set(base) == {'l3d', 'l2d', 'gan'}
    cfg.TRAIN.SYMMETRY_WEIGHT = 0.25
    sym = _adv_terms(cfg)
    assert set(sym) == {'l3d', 'l2d', 'gan', 'sym'} and sym['sym'][0] == 0.25 and sym['sym'][1] > 0
    for n, (w, v) in base.items():
        assert sym[n][0] == w and torch.equal(sym[n][1], v), n
    cfg = tiny_cfg('TRAIN.PROPORTION_WEIGHT', '0.5')
    prop = _adv_terms(cfg)
    assert set(prop) == {'l3d', 'l2d', 'gan', 'prop'} and prop['prop'][0] == 0.5 and prop['prop'][1] > 0
    for n, (w, v) in base.items():
        assert prop[n][0] == w and torch.equal(prop[n][1], v), n


def test_flow_prior_term_is_additive():
    """A 2D pose prior (a flow with its PCA set, not fitted): one more term, 'flow', the mean NLL
    of the rotated projections; every other term bit-for-bit."""
    pytest.importorskip('zuko')
    from lib.train.flow_prior import PosePrior
    cfg = tiny_cfg('TRAIN.FLOW_WEIGHT', '0.5')
    torch.manual_seed(5)
    prior = PosePrior(13, 6, 1, 8)
    prior.set_pca(torch.randn(200, 32) * 0.03, 6)
    base, with_flow = _adv_terms(tiny_cfg()), _adv_terms(cfg, flow=prior)
    assert set(with_flow) == set(base) | {'flow'} and with_flow['flow'][0] == 0.5
    assert torch.isfinite(with_flow['flow'][1]) and with_flow['flow'][1].requires_grad
    for n, (w, v) in base.items():
        assert with_flow[n][0] == w and torch.equal(with_flow[n][1], v), n


def test_learned_elevation_rotates_as_the_angles_it_computes():
    """ELEV_SAMPLING uniform: the batch's angles go to the model as they are.  learned: the model
    rotates by the angles the elevation prior computes from its lift, and the terms are those of
    a step given these angles directly; the lift is observed for the running statistics."""
    from lib.data.batches import Batch
    from lib.train.elevation import ElevationPrior
    b = Batch(torch.zeros(2, 17, 2), torch.rand(2, 3), None, None, None, torch.arange(2))
    assert T.batch_rotations(b, None) is b.rot
    cfg = tiny_cfg('TRAIN.ELEV_SAMPLING', 'learned')
    elev = ElevationPrior(cfg)
    terms = _adv_terms(cfg, elev=elev)
    assert elev.pending is not None and elev.count == 0
    m, _, _, x, r = _fresh(cfg)
    angles = elev.rotations(r)(m(x).est_3d.detach())       # the same lift: the same dropout draws
    direct = _adv_terms(cfg, rot=angles)
    for n in ('l3d', 'l2d', 'gan'):
        assert torch.allclose(terms[n][1], direct[n][1], rtol=1e-6, atol=1e-8), n
    assert not torch.allclose(_adv_terms(cfg)['l3d'][1], terms['l3d'][1])      # the angles as drawn: other
