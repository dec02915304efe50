"""Parity with the authors' released code, run beside this project on the same data.

Their code is imported at run time from ../shared/original (or $AUTHORS_CODE_DIR)
by lib/parity/original.py; every test here skips when it is absent.  For the
four configs they released (read from their folder, through their config loader
and through ours), with small widths: the models give the same outputs with the
same weights, two short epochs of training (their ``train()`` fed the batches our
``train_epoch`` draws) give the same loss terms, gradients, parameters, optimiser
states and BatchNorm statistics, the data pipeline reads their h5 layout into the
same numbers, and their ``validate`` arithmetic gives our batch-mean metrics.
Everything that is deterministic is compared exactly (max difference 0.0).

Today's PyTorch sets gradients to None in ``zero_grad()``, so their code, run
here, no longer moves frozen parameters through Adam's momentum as it did in its
era: it matches ``COMPAT.FROZEN_KEEP_MOMENTUM: false``.  Their optimiser patched
to zero the gradients instead (the old semantics) matches the default ``true``.
"""
import os
import shutil

import h5py
import numpy as np
import pytest
import torch

import synth
from lib.train import step as T
from lib.config.defaults import DEAD_KEYS, get_default
from lib.config.load import apply_opts, update_config
from lib.eval.evaluate import best_key, compute_metrics
from lib.eval.lifting import lift_in_batches
from lib.train.state import TrainState
from lib.data import sampling
from lib.data.batches import TensorSplit
from lib.data.dataset import head_root_length, read_h5
from lib.parity.original import find_authors_dir, load_authors_code
from lib.parity.steps import (THEIR_TERMS, PlannedLoader, ScalarLog, StepRecorder, copy_weights,
                              max_abs_diff, planned_epoch)

AUTHORS = find_authors_dir()
pytestmark = [pytest.mark.skipif(AUTHORS is None, reason='the authors\' code is not at ../shared/original '
                                                         '(set AUTHORS_CODE_DIR)'),
              # the schedulers step before the first optimiser step, as the original's main.py
              pytest.mark.filterwarnings('ignore:Detected call of', 'ignore:Seems like')]
CONFIGS = ('h36m_gt_adv', 'h36m_gt_scale', 'pre_adv', 'pre_tmc_klbone')
WIDTH, BATCH, STEPS, EPOCHS = 64, 32, 3, 2      # 3 steps: not a multiple of SUBNET + MAINNET_CRITICS
SMALL = {'NETWORK.NUM_CHANNELS': WIDTH, 'BATCH_SIZE': BATCH}
CPU = torch.device('cpu')


def yaml_of(name):
    return os.path.join(AUTHORS, 'cfg', name + '.yaml')


@pytest.fixture(scope='module')
def authors():
    a = load_authors_code()
    a.draw_figures = False
    yield a
    a.close()


@pytest.fixture(scope='module')
def h5_dir(tmp_path_factory):
    """A small float64 data set in the authors' layout (h36m_{train,valid}_pred3.h5)."""
    d = str(tmp_path_factory.mktemp('h5'))
    synth.write_h5(d, 'h36m', frames=40, dtype=np.float64)
    return d


def their_config(authors, name, h5_dir, **extra):
    cfg = authors.config_from_yaml(yaml_of(name), dict(SMALL, **extra))
    cfg.DATA.TRAIN_PATH = os.path.join(h5_dir, 'h36m_train_pred3.h5')
    cfg.DATA.VALID_PATH = os.path.join(h5_dir, 'h36m_valid_pred3.h5')
    return cfg


def our_config(name, *opts):
    cfg = get_default()
    with pytest.warns(UserWarning, match='accepted but unused'):
        update_config(cfg, yaml_of(name))
    small = [str(v) for kv in SMALL.items() for v in kv]
    apply_opts(cfg, small + ['COMPAT.FROZEN_KEEP_MOMENTUM', 'false'] + list(opts))
    return cfg


def train_split(cfg, h5_dir):
    split = read_h5(os.path.join(h5_dir, 'h36m_train_pred3.h5'), cfg.USE_GT).finish()
    return TensorSplit.from_split(split, cfg, CPU)


# --- configs ------------------------------------------------------------------------

@pytest.mark.parametrize('name', CONFIGS)
def test_both_config_loaders_read_every_key_alike(authors, name):
    import yaml
    with open(yaml_of(name)) as f:
        raw = yaml.safe_load(f)
    theirs, ours = authors.config_from_yaml(yaml_of(name)), our_config(name)
    keys = [(k, None) if not isinstance(v, dict) else (k, kk) for k, v in raw.items()
            for kk in ([None] if not isinstance(v, dict) else v)]
    live, dead = 0, set()
    for sec, key in keys:
        dotted = sec if key is None else sec + '.' + key
        if dotted in DEAD_KEYS:
            dead.add(dotted)
            continue
        t = theirs[sec] if key is None else theirs[sec][key]
        o = ours[sec] if key is None else ours[sec][key]
        if dotted == 'BATCH_SIZE':
            o = raw['BATCH_SIZE']                   # ours was made small for the tests
        assert o == t, dotted
        live += 1
    assert live >= 25
    # the only keys of their YAMLs that their code never reads (grep their lib/ and scripts/)
    assert dead == {'DATA.USE_RANDOM_DIFF', 'TRAIN.LOSS_TYPE'}


# --- models ---------------------------------------------------------------------------

def _their_and_our_models(authors, name, h5_dir, *opts):
    theirs = authors.build_models(their_config(authors, name, h5_dir))
    state = TrainState(our_config(name, *opts), CPU)
    ours = (state.model, state.D, state.Dt)
    copy_weights(theirs, ours)
    copy_weights(ours, theirs)                      # the keys match both ways
    return theirs, ours


@pytest.mark.parametrize('name', CONFIGS)
def test_models_give_the_same_outputs_with_the_same_weights(authors, h5_dir, name):
    (tp, td, tt), (op, od, ot) = _their_and_our_models(authors, name, h5_dir)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, 17, 2, generator=g) * 0.05
    rot = torch.rand(BATCH, 3, generator=g) * 2 - 1
    for train_mode in (False, True):
        for m in (tp, td, tt, op, od, ot):
            m.train(train_mode)
        with torch.no_grad():
            torch.manual_seed(7)
            a = tp(x, is_train=False)
            torch.manual_seed(7)
            b = op.lift(x)
            assert (a[0] - b[0]).abs().max().item() == 0.0
            if op.scaler is not None:
                assert (a[1] - b[1]).abs().max().item() == 0.0 and (a[2] - b[2]).abs().max().item() == 0.0
            torch.manual_seed(7)
            cyc = tp(x, is_train=True, rot=rot)
            torch.manual_seed(7)
            out = op(x, rot)
            mine = (out.est_3d, out.tran_3d, out.proj_2d, out.recn_3d, out.recovered_3d, out.recn_2d)
            for u, v in zip(cyc[1:7], mine):
                assert (u - v).abs().max().item() == 0.0
            pair = torch.cat([x, x.flip(0)], -1)
            for their, our, inp in ((td, od, x), (tt, ot, pair)):
                torch.manual_seed(7)
                u = their(inp)
                torch.manual_seed(7)
                assert (u - our(inp)).abs().max().item() == 0.0
        assert max_abs_diff(dict(tp.state_dict()), dict(op.state_dict())) == 0.0   # BN statistics too


# --- training ---------------------------------------------------------------------------

def run_theirs(authors, name, h5_dir, plans, n_rows, old_zero_grad=False, **extra):
    """Their train() for the planned epochs; per step: logged losses, G and D steps."""
    cfg = their_config(authors, name, h5_dir, **extra)
    torch.manual_seed(0)
    models = authors.build_models(cfg)
    init = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    opts = authors.optimizers(cfg, *models)
    if old_zero_grad:                               # PyTorch < 2.0: zero the gradients, keep them
        opts[0].zero_grad = lambda set_to_none=False, _z=opts[0].zero_grad: _z(set_to_none=False)
    scheds = [torch.optim.lr_scheduler.StepLR(o, cfg.TRAIN.SCHEDULER_STEP_SIZE, cfg.TRAIN.SCHEDULER_GAMMA)
              for o in opts]                        # as their main.py (before the recorders' hooks)
    log = ScalarLog()
    g_steps = StepRecorder(opts[0], models[0], on_step=log.new_step)
    d_steps = StepRecorder(opts[1], models[1])
    torch.manual_seed(11)
    for epoch, (batches, figure) in enumerate(plans):
        for s in scheds:                            # their main.py steps the schedulers first
            s.step()
        authors.train(cfg, PlannedLoader(batches, figure, n_rows), models, opts, epoch, summary_writer=log)
    return {'init': init, 'log': log.per_step, 'g': g_steps.steps, 'd': d_steps.steps,
            'state': [dict(m.state_dict()) for m in models], 'opt': [o.state_dict() for o in opts]}


def run_ours(name, data, init, *opts):
    """Our train_epoch for EPOCHS epochs of STEPS steps, from their initial weights."""
    cfg = our_config(name, 'TRAIN.MAX_STEPS_PER_EPOCH', str(STEPS), 'PRINT_INTERVAL', '1', *opts)
    state = TrainState(cfg, CPU)
    for m, sd in zip((state.model, state.D, state.Dt), init):
        m.load_state_dict(sd, strict=True)
    log = ScalarLog()
    state.writer = log
    g_steps = StepRecorder(state.opt_g, state.model, on_step=log.new_step)
    d_steps = StepRecorder(state.opt_d, state.D)
    torch.manual_seed(11)
    for epoch in range(EPOCHS):
        for s in state.sched:
            s.step()
        assert T.train_epoch(state, data, cfg, epoch) == 'done'
        state.step_in_epoch = 0
    return {'log': [{k[6:]: v for k, v in s.items()} for s in log.per_step], 'g': g_steps.steps,
            'd': d_steps.steps, 'state': [dict(m.state_dict()) for m in (state.model, state.D, state.Dt)],
            'opt': [o.state_dict() for o in (state.opt_g, state.opt_d, state.opt_dt)], 'cfg': cfg}


def plan(name, data):
    cfg = our_config(name)
    gen = torch.Generator().manual_seed(int(cfg.RANDOM_SEED))
    plans, state = [], gen.get_state()
    for epoch in range(EPOCHS):
        batches, figure, state = planned_epoch(data, cfg, epoch, state, STEPS)
        plans.append((batches, figure))
    return plans


_THEIRS = {}


def theirs_cached(authors, name, h5_dir, data, old_zero_grad=False):
    key = (name, old_zero_grad)
    if key not in _THEIRS:
        _THEIRS[key] = run_theirs(authors, name, h5_dir, plan(name, data), len(data), old_zero_grad)
    return _THEIRS[key]


def differences(t, o):
    """Where two runs differ: a list of (what, step, size); empty when they agree exactly."""
    out = []
    assert len(t['g']) == len(o['g']) == EPOCHS * STEPS and len(t['d']) == len(o['d'])
    for k, (tl, ol) in enumerate(zip(t['log'], o['log'])):
        for their_name, value in tl.items():
            ours = THEIR_TERMS.get(their_name)
            if ours is not None and value != ol.get(ours):
                out.append(('loss %s' % ours, k, abs(value - ol.get(ours, np.inf))))
        if 'd' in ol and ol['d'] != tl.get('dis_d_loss/iters'):
            out.append(('loss d', k, abs(ol['d'] - tl.get('dis_d_loss/iters', np.inf))))
    for what in ('g', 'd'):
        for k, ((tg, tp), (og, op)) in enumerate(zip(t[what], o[what])):
            for part, a, b in (('grad', tg, og), ('param', tp, op)):
                d = max_abs_diff(a, b)
                if d != 0.0:
                    out.append(('%s %s' % (what, part), k, d))
    for i, (a, b) in enumerate(zip(t['state'], o['state'])):
        d = max_abs_diff(a, b)
        if d != 0.0:
            out.append(('final state of model %d' % i, -1, d))
    for i, (a, b) in enumerate(zip(t['opt'], o['opt'])):
        for pid, st in a['state'].items():
            d = max_abs_diff({k: v for k, v in st.items()}, {k: v for k, v in b['state'][pid].items()})
            if d != 0.0:
                out.append(('optimiser %d state' % i, pid, d))
    return out


@pytest.mark.parametrize('name', CONFIGS)
def test_two_short_epochs_train_exactly_as_the_original(authors, h5_dir, name):
    """Every logged loss term, every gradient and parameter after every generator and
    discriminator step, the Adam states and the BatchNorm statistics (which the
    end-of-epoch forward moves) after two 3-step epochs: equal to the last bit.  For the
    alternating configs the epochs hold a subnet step, a mainnet step with the lifter still
    frozen (rem == SUBNET_CRITICS) and, in the second epoch, the phases restart from 0."""
    data = train_split(our_config(name), h5_dir)
    t = theirs_cached(authors, name, h5_dir, data)
    o = run_ours(name, data, t['init'])
    assert differences(t, o) == []
    terms = set().union(*o['log'])
    assert {'l3d', 'l2d', 'gan', 'd'} <= terms
    if o['cfg'].TRAIN.USE_CYCLE:
        assert {'kl', 'bone'} <= terms and [len(s) > 0 for s in t['log']].count(True) == EPOCHS * STEPS
    if o['cfg'].TRAIN.USE_NEW_TEMP:
        assert 'tmc' in terms


def test_frozen_parameters_keep_adam_momentum_with_the_old_zero_grad(authors, h5_dir):
    """Their optimiser patched to the pre-2.0 ``zero_grad`` (zeroed, kept gradients) trains
    exactly as ``COMPAT.FROZEN_KEEP_MOMENTUM: true``; with today's it does not."""
    name = 'h36m_gt_scale'
    data = train_split(our_config(name), h5_dir)
    t = theirs_cached(authors, name, h5_dir, data, old_zero_grad=True)
    assert differences(t, run_ours(name, data, t['init'], 'COMPAT.FROZEN_KEEP_MOMENTUM', 'true')) == []
    assert differences(t, run_ours(name, data, t['init'])) != []


@pytest.mark.parametrize('switch,fix,first', [
    ('COMPAT.ALTERNATE_OFF_BY_ONE', 'false', 'g grad'),        # lifter trained at rem == S
    ('COMPAT.EPOCH_END_FORWARD', 'false', 'final state'),      # BN statistics
    ('COMPAT.KL_ON_DIFF2', 'never', 'loss kl'),
    ('COMPAT.BONE_LOSS', 'lengths', 'loss bone'),
    ('COMPAT.L2D_TARGET_UNSCALED', 'false', 'loss l2d'),
    ('COMPAT.TMC_FRAME', 'rotate_motion', 'loss tmc'),         # instead of FIX_TRAJ's magnitudes
])
def test_each_fix_shows_as_a_difference(authors, h5_dir, switch, fix, first):
    """With the switch at its original value the runs agree (test above); with the fix they
    differ, where expected."""
    name = 'h36m_gt_scale'
    data = train_split(our_config(name), h5_dir)
    t = theirs_cached(authors, name, h5_dir, data)
    diff = differences(t, run_ours(name, data, t['init'], switch, fix))
    assert diff and any(what.startswith(first) for what, _, _ in diff), diff


def test_joint_scheme_bone_loss_partner(authors, h5_dir):
    """Joint scheme (function1) with scaler and TMC, not a released config: their bone loss
    compares with the TMC neighbour's lift (the partner's variable is overwritten), which
    ``COMPAT.JOINT_BONE_ON_NEIGHBOUR`` reproduces and switches off."""
    name = 'h36m_gt_scale'
    extra = {'TRAIN.USE_CYCLE': False}
    data = train_split(our_config(name, 'TRAIN.USE_CYCLE', 'false'), h5_dir)
    cfg = our_config(name, 'TRAIN.USE_CYCLE', 'false')
    gen = torch.Generator().manual_seed(int(cfg.RANDOM_SEED))
    plans, st = [], gen.get_state()
    for epoch in range(EPOCHS):
        b, f, st = planned_epoch(data, cfg, epoch, st, STEPS)
        plans.append((b, f))
    t = run_theirs(authors, name, h5_dir, plans, len(data), **extra)
    assert differences(t, run_ours(name, data, t['init'], 'TRAIN.USE_CYCLE', 'false')) == []
    fixed = differences(t, run_ours(name, data, t['init'], 'TRAIN.USE_CYCLE', 'false',
                                    'COMPAT.JOINT_BONE_ON_NEIGHBOUR', 'false'))
    assert any(what == 'loss bone' for what, _, _ in fixed), fixed


# --- data pipeline ----------------------------------------------------------------------

def _their_dataset(authors, cfg, h5_path, tmp_path, is_train=True):
    """Their Human36MDataset on a copy of ``h5_path`` (they may add keys to the file)."""
    copy = str(tmp_path / ('their_' + os.path.basename(h5_path)))
    shutil.copy(h5_path, copy)
    cfg.DATA.TRAIN_PATH = cfg.DATA.VALID_PATH = copy
    authors.clear_data()
    return authors.dataset(cfg, is_train)


def _items(authors, ds, indices):
    """Their __getitem__ for each index (NumPy's RNG seeded as in their first worker call)."""
    with authors.running():
        return [ds[int(i)] for i in indices]


@pytest.mark.parametrize('name,extra', [('h36m_gt_scale', {}), ('pre_tmc_klbone', {}),
                                        ('h36m_gt_adv', {'DATA.FRAME_INTERVAL': 2})])
def test_h5_reader_gives_their_numbers(authors, h5_dir, tmp_path, name, extra):
    """Normalised 2D, 3D, evaluation factors, fixed rotations (seed 2019, theta + pi copies,
    bounds), sequence positions and the TMC neighbour of every frame: identical."""
    path = os.path.join(h5_dir, 'h36m_train_pred3.h5')
    opts = [str(v) for kv in extra.items() for v in kv]
    cfg = our_config(name, *opts)
    split = read_h5(path, cfg.USE_GT).finish()
    data = TensorSplit.from_split(split, cfg, CPU)
    ds = _their_dataset(authors, their_config(authors, name, h5_dir, **extra), path, tmp_path)
    assert torch.equal(ds.kp2ds, data.pose_2d)
    assert torch.equal(ds.kp3ds, torch.as_tensor(split.pose_3d, dtype=torch.float32))
    assert torch.equal(ds.rotation[:len(ds)], data.rot)
    with open(os.path.join(authors.data_dir, 'h36m_train_factor_3d.pkl'), 'rb') as f:
        import pickle
        factor = pickle.load(f)
    assert np.array_equal(factor[:, 0, 0], head_root_length(split.pose_3d))
    assert np.array_equal(ds.indices_in_seq, split.index_in_seq)
    assert np.array_equal(ds.sequence_lens, split.seqlen)
    idx = torch.arange(len(data))
    nb = sampling.tmc_neighbour(idx, data.index_in_seq, data.seqlen, data.seq_start, cfg.DATA, None,
                                data.block_end)
    items = _items(authors, ds, idx)
    assert all(torch.equal(it[3], data.pose_2d[j]) for it, j in zip(items, nb))
    assert max(ds.rotation[:, 0].abs().max(), data.rot[:, 0].abs().max()) <= cfg.TRAIN.BOUND_AZIM + np.pi


def test_positions_of_a_subsampled_file_are_read_as_the_original(authors, h5_dir, tmp_path):
    """Frame numbers 0, 2, 4, ... in the image names and no stored positions: the position
    is the frame number and the length the row count (their process_dataset_for_video), so
    the TMC neighbour differs from a row-order rule; ours follows theirs."""
    src = os.path.join(h5_dir, 'h36m_train_pred3.h5')
    path = str(tmp_path / 'h36m_sub_pred3.h5')
    with h5py.File(src, 'r') as f, h5py.File(path, 'w') as g:
        for k in f:
            g[k] = f[k][()]
        names = [n.decode().rsplit('/', 1) for n in f['imagename'][()]]
        del g['imagename']
        g['imagename'] = np.array([('%s/%d' % (a, 2 * int(b))).encode() for a, b in names])
    cfg = our_config('h36m_gt_scale')
    split = read_h5(path, True).finish()
    data = TensorSplit.from_split(split, cfg, CPU)
    ds = _their_dataset(authors, their_config(authors, 'h36m_gt_scale', h5_dir), path, tmp_path)
    assert np.array_equal(ds.indices_in_seq, split.index_in_seq)
    assert (split.index_in_seq != np.arange(len(split)) - split.seq_start).any()
    idx = torch.arange(len(data))
    nb = sampling.tmc_neighbour(idx, data.index_in_seq, data.seqlen, data.seq_start, cfg.DATA, None,
                                data.block_end)
    rowwise = sampling.tmc_neighbour(idx, idx - data.seq_start, data.block_end - data.seq_start,
                                     data.seq_start, cfg.DATA, None, data.block_end)
    assert (nb != rowwise).any()
    items = _items(authors, ds, idx)
    assert all(torch.equal(it[3], data.pose_2d[j]) for it, j in zip(items, nb))


def test_random_neighbour_rules_have_the_same_support(authors, h5_dir, tmp_path):
    """The bone partner (uniform among rows >= MIN_DIFF_DIST away in the sequence), the random
    EXP_TMC offset and ONLINE_ROT (non-negative angles; symmetric with the fix): the same
    values are possible, with about the same frequencies."""
    path = os.path.join(h5_dir, 'h36m_train_pred3.h5')
    extra = {'DATA.EXP_TMC': True, 'DATA.EXP_TMC_DETERMINISTIC': False, 'DATA.ONLINE_ROT': True}
    cfg = our_config('pre_tmc_klbone', 'DATA.EXP_TMC_DETERMINISTIC', 'false', 'DATA.ONLINE_ROT', 'true')
    split = read_h5(path, cfg.USE_GT).finish()
    data = TensorSplit.from_split(split, cfg, CPU)
    ds = _their_dataset(authors, their_config(authors, 'pre_tmc_klbone', h5_dir, **extra), path, tmp_path)
    row_of = {data.pose_2d[r].numpy().tobytes(): r for r in range(len(data))}
    n = 1500
    for frame in (3, 20, int(data.block_end[0]) - 2):
        items = _items(authors, ds, [frame] * n)
        theirs = {'far': [row_of[it[4].numpy().tobytes()] - frame for it in items],
                  'nb': [row_of[it[3].numpy().tobytes()] - frame for it in items]}
        g = torch.Generator().manual_seed(0)
        b = data.batch(torch.full((n,), frame), cfg, g, need_nb=True, need_far=True)
        ours = {'far': [row_of[x.numpy().tobytes()] - frame for x in b.x_far],
                'nb': [row_of[x.numpy().tobytes()] - frame for x in b.x_nb]}
        for k in ('far', 'nb'):
            ct, co = np.unique(theirs[k], return_counts=True), np.unique(ours[k], return_counts=True)
            assert np.array_equal(ct[0], co[0]), k
            assert 0.5 * np.abs(ct[1] - co[1]).sum() / n < 0.12, k     # total variation
        rt = torch.stack([it[2] for it in items])
        bounds = torch.tensor([cfg.TRAIN.BOUND_AZIM, cfg.TRAIN.BOUND_ELEV, cfg.TRAIN.BOUND_ELEV / 2])
        for r in (rt, b.rot):
            assert (r >= 0).all() and (r < bounds).all() and (r > 0.8 * bounds).any(0).all()
    fixed = our_config('pre_tmc_klbone', 'DATA.ONLINE_ROT', 'true', 'COMPAT.ONLINE_ROT_NONNEGATIVE', 'false')
    assert (data.batch(torch.arange(200), fixed, torch.Generator().manual_seed(0)).rot < 0).any()


# --- metrics ----------------------------------------------------------------------------

def test_their_validate_gives_our_batch_means(authors, h5_dir, tmp_path):
    """Their validate (data set, factor pickle, mean of per-batch MPJPE and P-MPJPE, and its
    figure, drawn through the shims) on the same model: our MPJPE_batchmean and
    P-MPJPE_batchmean, which also select model_best by default."""
    name = 'h36m_gt_scale'
    path = os.path.join(h5_dir, 'h36m_valid_pred3.h5')
    tcfg = their_config(authors, name, h5_dir)
    (tp, _, _), (op, _, _) = _their_and_our_models(authors, name, h5_dir)
    ds = _their_dataset(authors, tcfg, path, tmp_path, is_train=False)
    loader = torch.utils.data.DataLoader(ds, batch_size=256, shuffle=False)
    authors.draw_figures = True
    try:
        p1, p2, figure, _, _ = authors.validate(tcfg, loader, tp)
    finally:
        authors.draw_figures = False
    assert figure.ndim == 3 and figure.shape[0] in (3, 4)
    cfg = our_config(name)
    split = read_h5(path, cfg.USE_GT).finish()
    test = TensorSplit.from_split(split, cfg, CPU, train=False)
    pred, _ = lift_in_batches(op, test.pose_2d)
    res, _ = compute_metrics(pred, split.pose_3d, split.action_group, batch=256)
    assert res['MPJPE_batchmean'] == pytest.approx(p1, rel=1e-6)
    assert res['P-MPJPE_batchmean'] == pytest.approx(p2, rel=1e-6)
    assert res['MPJPE'] != pytest.approx(p1, rel=1e-6)            # the per-frame mean differs
    assert best_key(cfg) == 'P-MPJPE_batchmean'


def test_speed_benchmark_runs_both_sides():
    """tools/benchmark_vs_original.py's measurement, tiny: both loops run on the same data."""
    from lib.parity.benchmark import Sides, measure
    sides = Sides(yaml_of('h36m_gt_scale'), CPU, 32, 32, 600, 600)
    try:
        res = measure(sides, 2, 2, warmup=1, say=lambda s: None)
    finally:
        sides.close()
    assert res['original_steps_per_s'] > 0 and res['project_steps_per_s'] > 0
    assert res['ratio'] == pytest.approx(res['project_steps_per_s'] / res['original_steps_per_s'], rel=1e-3)
    assert len(res['wall_seconds']['original']) == len(res['cpu_seconds']['project_eval']) == 2
