"""Pieces of code that several modules share: each former copy now calls one function, and
the callers still give what they gave (same numbers, same messages, same state-dict keys)."""
import logging
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lib.config.defaults import get_default
from lib.utils.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_MODEL = os.path.join(REPO, 'scripts', 'demo_model', 'demo.pth.tar')


# --- the frames an animation shows ----------------------------------------------------------

def test_gif_and_sequence_animation_pick_frames_with_one_function():
    from lib.vis import plot, sequence_anim
    assert sequence_anim.frame_indices is plot.frame_indices
    np.testing.assert_array_equal(plot.frame_indices(5, 100), np.arange(5))
    np.testing.assert_array_equal(plot.frame_indices(10, 4), [0, 3, 6, 9])
    np.testing.assert_array_equal(plot.frame_indices(7, 7), np.arange(7))
    np.testing.assert_array_equal(plot.frame_indices(8, 3), [0, 4, 7])                # rounded, not cut
    np.testing.assert_array_equal(plot.frame_indices(100, 7), [0, 16, 33, 50, 66, 82, 99])
    idx = plot.frame_indices(250, 100)
    assert len(idx) == 100 and idx[0] == 0 and idx[-1] == 249 and (np.diff(idx) > 0).all()


# --- the residual trunk of the lifter, the scaler and the discriminators ---------------------

def _lin(p, sn=False):
    return [p + '.bias', p + '.weight_orig', p + '.weight_u', p + '.weight_v'] if sn else \
        [p + '.weight', p + '.bias']


def _bn(p, track=True):
    return [p + '.weight', p + '.bias'] + \
        ([p + '.running_mean', p + '.running_var', p + '.num_batches_tracked'] if track else [])


def _block(p, bn=True, track=True, sn=False):
    if bn:
        return _lin(p + 'main.0', sn) + _bn(p + 'main.1', track) + _lin(p + 'main.4', sn) + \
            _bn(p + 'main.5', track) + _lin(p + 'sc', sn)
    return _lin(p + 'main.0', sn) + _lin(p + 'main.3', sn) + _lin(p + 'sc', sn)


def _small_cfg(**network):
    cfg = get_default()
    cfg.NETWORK.NUM_CHANNELS = 8
    for k, v in network.items():
        cfg.NETWORK[k] = v
    return cfg


@pytest.mark.parametrize('track', [True, False])
def test_lifter_and_scaler_state_dict_keys_are_the_authors(track):
    from lib.models.lifter import get_lifter_after, get_lifter_before
    from lib.models.scaler import get_scaler
    cfg = _small_cfg(LIFTER_RES_BLOCKS=2, BN_TRACK=track)
    assert list(get_lifter_before(cfg).state_dict()) == \
        ['pre.0.weight', 'pre.0.bias'] + _bn('pre.1', track) + _block('blocks.0.', track=track) + \
        _block('blocks.1.', track=track)
    assert list(get_lifter_after(cfg).state_dict()) == _block('') + ['out.weight', 'out.bias']
    assert list(get_scaler(cfg).state_dict()) == \
        _block('blocks.0.', track=track) + ['pre.weight', 'pre.bias', 'out.weight', 'out.bias']


@pytest.mark.parametrize('bn,sn', [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize('temporal', [False, True])
def test_discriminator_state_dict_keys_are_the_authors(bn, sn, temporal):
    from lib.models.discriminator import get_discriminator
    cfg = _small_cfg(DIS_USE_BN=bn, DIS_USE_SPECTRAL_NORM=sn, DIS_RES_BLOCKS=2, DIS_TEMP_RES_BLOCKS=3)
    d = get_discriminator(cfg, is_temp=temporal)
    n = 3 if temporal else 2
    want = _lin('pre.0', sn) + (_bn('pre.1') if bn else [])
    for i in range(n):
        want += _block('blocks.%d.' % i, bn=bn, sn=sn)
    want += _lin('out', sn)
    assert sorted(d.state_dict()) == sorted(want)
    assert [k for k, _ in d.named_parameters()] == [k for k in want if k.endswith(('weight', 'bias', 'orig'))
                                                     and 'running' not in k and not k.endswith(('_u', '_v'))]
    assert d.state_dict()['pre.0.bias'].shape == (8,) and d.blocks[0].sc.in_features == 8 + (68 if temporal else 34)


def test_shipped_demo_model_has_exactly_the_model_keys():
    from lib.models.checkpoint import apply_architecture, read_pose_checkpoint
    from lib.data.formats import pose_model_args
    from lib.models.pose_model import PoseModel
    _, sd, arch = read_pose_checkpoint(DEMO_MODEL)
    cfg = get_default()
    apply_architecture(cfg, arch, log=lambda m: None)
    assert list(PoseModel(cfg, **pose_model_args(cfg)).state_dict()) == list(sd)


def test_the_trunk_is_pre_then_each_block_fed_the_raw_input():
    from lib.models.blocks import residual_trunk
    from lib.models.discriminator import get_discriminator
    from lib.models.lifter import get_lifter_before
    from lib.models.scaler import get_scaler, scaler_features
    cfg = _small_cfg(LIFTER_RES_BLOCKS=3, DIS_USE_BN=True)
    torch.manual_seed(0)
    lb, d, sc = get_lifter_before(cfg).eval(), get_discriminator(cfg).eval(), get_scaler(cfg).eval()
    for m in (lb, d, sc):       # non-trivial BN statistics
        for b in m.modules():
            if isinstance(b, torch.nn.BatchNorm1d) and b.running_mean is not None:
                b.running_mean.uniform_(-0.5, 0.5)
                b.running_var.uniform_(0.5, 2.0)
    x = torch.randn(5, 17, 2)
    raw = x.reshape(5, -1)

    def by_hand(m, inp):
        h = m.pre(inp)
        for block in m.blocks:
            h = block.main(h) + block.sc(torch.cat([h, inp], 1))
        return h

    with torch.no_grad():
        h, r = lb(x)
        assert torch.equal(r, raw)
        torch.testing.assert_close(h, by_hand(lb, raw), rtol=0, atol=1e-6)
        torch.testing.assert_close(residual_trunk(lb.pre, lb.blocks, raw), h, rtol=0, atol=0)
        torch.testing.assert_close(d(x), d.out(by_hand(d, raw)), rtol=0, atol=1e-6)
        f, _ = scaler_features(x)
        torch.testing.assert_close(sc(x)[1], sc.out(by_hand(sc, f)), rtol=0, atol=1e-6)
    assert [type(m).__name__ for m in lb.pre] == ['Linear', 'BatchNorm1d', 'ReLU', 'Dropout']
    assert [type(m).__name__ for m in get_discriminator(_small_cfg()).pre] == ['Linear', 'ReLU', 'Dropout']


# --- the joints-array shape check ------------------------------------------------------------

@pytest.mark.parametrize('shape', [(3, 16, 2), (3, 17, 1), (17, 2), (2, 3, 17, 2)])
def test_data_and_prediction_files_check_joint_shapes_alike(shape):
    from lib.data.dataset import _check_joints
    from lib.data.skeleton import check_joints_shape
    from lib.vis.sequences import FIX, _check
    a = np.zeros(shape)
    cases = [(_check_joints, 'f.h5', 'joint_2d_gt', True,
              'error: joint_2d_gt has shape %s, expected (N, 17, >=2) (f.h5): the data must hold the 17 '
              'Human3.6M joints in VideoPose3D order' % (shape,)),
             (_check, 'p.npz', 'pose_2d_px', False,
              'error: pose_2d_px has shape %s, expected (N, 17, 2) (p.npz): pass a prediction file of '
              '17-joint poses written by tools/main.py --eval' % (shape,))]
    for caller, path, key, at_least, message in cases:
        errors = []
        for check in (lambda: caller(a, path, key, 2),
                      lambda: check_joints_shape(a, path, key, 2, message.rpartition('): ')[2], at_least)):
            with pytest.raises(UserError) as e:
                check()
            errors.append(str(e.value))
        assert errors == [message, message]
    assert cases[1][-1].endswith(FIX)


def test_joint_shape_check_accepts_extra_columns():
    from lib.data.dataset import _check_joints
    from lib.data.skeleton import check_joints_shape
    from lib.vis.sequences import _check
    a = np.ones((4, 17, 3))
    _check_joints(a, 'f', 'k', 2)
    check_joints_shape(a, 'f', 'k', 3, 'fix')
    assert _check(a, 'f', 'k', 2).shape == (4, 17, 2)


# --- filling missing limb joints -------------------------------------------------------------

# LSP index -> v3d index, for the 12 limb joints
LSP_TO_V3D = {0: 3, 1: 2, 2: 1, 3: 4, 4: 5, 5: 6, 6: 16, 7: 15, 8: 14, 9: 11, 10: 12, 11: 13}


def test_lsp_and_detector_keypoints_fill_limbs_by_one_rule():
    from lib.inference import joint_orders, lsp
    rng = np.random.default_rng(0)
    lsp14 = rng.uniform(0, 200, (14, 2))
    v3d = rng.uniform(0, 200, (17, 2))
    for i, j in LSP_TO_V3D.items():
        v3d[j] = lsp14[i]
    assert [tuple(LSP_TO_V3D[k] for k in chain) for chain in lsp.LIMBS] == \
        [(1, 2, 3), (4, 5, 6), (14, 15, 16), (11, 12, 13)]
    fillable = [k for chain in lsp.LIMBS for k in chain[1:]]      # knees/elbows, ankles/wrists
    for pattern in range(2 ** len(fillable)):
        miss14 = np.zeros(14, bool)
        for b, k in enumerate(fillable):
            miss14[k] = bool(pattern >> b & 1)
        miss17 = np.zeros(17, bool)
        for i, j in LSP_TO_V3D.items():
            miss17[j] = miss14[i]
        a = lsp.fill_missing(lsp14, miss14)
        b, _, reasons = joint_orders.fill_missing(v3d[None], miss17[None])
        assert reasons == [None]
        for i, j in LSP_TO_V3D.items():
            assert np.array_equal(a[i], b[0, j]), (pattern, i)
        c = lsp14.copy()
        joint_orders.fill_limbs(c, miss14, lsp.LIMBS)
        np.testing.assert_array_equal(c[:12], a[:12])
    # the rule itself, on one chain: hip 2, knee 1, ankle 0
    miss = np.zeros(14, bool)
    miss[[1]] = True
    np.testing.assert_array_equal(lsp.fill_missing(lsp14, miss)[1], (lsp14[2] + lsp14[0]) / 2)
    miss[[0]] = True
    filled = lsp.fill_missing(lsp14, miss)
    np.testing.assert_array_equal(filled[1], lsp14[2])
    np.testing.assert_array_equal(filled[0], lsp14[2])


# --- reading a pose checkpoint for a model -----------------------------------------------------

def test_evaluation_and_warm_start_read_a_checkpoint_alike(tiny_checkpoint):
    from lib.eval.load_model import load_pose_model
    from lib.models.checkpoint import read_pose_checkpoint
    from lib.train.run import read_warm_start
    yaml_path, ckpt = tiny_checkpoint
    ck, sd, arch = read_pose_checkpoint(ckpt)
    assert set(ck) == {'pose_model_state_dict'}
    assert arch == {'LIFTER_RES_BLOCKS': 1, 'USE_SCALER': True, 'NUM_CHANNELS': 32, 'BN_TRACK': True,
                    'SCALER_RES_BLOCKS': 1, 'SCALER_INPUT_SIZE': 37}
    notes = []
    model = load_pose_model(get_default(), ckpt, log=notes.append)
    assert list(model.state_dict()) == list(sd)
    assert all(torch.equal(v, sd[k]) for k, v in model.state_dict().items())
    cfg = get_default()
    cfg.TRAIN.LIFTER_PRETRAIN_PATH = ckpt
    log = logging.getLogger('test_shared_pieces')
    wsd, warch = read_warm_start(cfg, log)
    assert warch == arch and list(wsd) == list(sd) and all(torch.equal(wsd[k], sd[k]) for k in sd)
    assert (cfg.NETWORK.NUM_CHANNELS, cfg.NETWORK.LIFTER_RES_BLOCKS, cfg.TRAIN.USE_SCALER) == (32, 1, False)


def test_evaluation_and_warm_start_refuse_a_bad_checkpoint_alike(tmp_path, tiny_checkpoint):
    from lib.eval.load_model import load_pose_model
    from lib.models.checkpoint import read_pose_checkpoint
    from lib.train.run import read_warm_start
    sd = torch.load(tiny_checkpoint[1], weights_only=True)['pose_model_state_dict']
    bad = dict(sd)
    bad['lifter_before.pre.0.bias'] = bad['lifter_before.pre.0.bias'].clone()
    bad['lifter_before.pre.0.bias'][3] = float('nan')
    cases = {'nan.pth.tar': {'pose_model_state_dict': bad},
             'nan_ema.pth.tar': {'pose_model_state_dict': sd, 'ema_state_dict': bad}}
    for name, content in cases.items():
        path = str(tmp_path / name)
        torch.save(content, path)
        with pytest.raises(UserError) as e:
            read_pose_checkpoint(path, use_ema=True)
        assert 'lifter_before.pre.0.bias holds NaN or inf' in str(e.value)
        with pytest.raises(UserError) as ev:
            load_pose_model(get_default(), path, log=lambda m: None, use_ema=True)
        assert str(ev.value) == str(e.value)
    read_pose_checkpoint(str(tmp_path / 'nan_ema.pth.tar'))            # without EMA: fine
    cfg = get_default()
    cfg.TRAIN.LIFTER_PRETRAIN_PATH = str(tmp_path / 'nan.pth.tar')
    with pytest.raises(UserError) as ew:
        read_warm_start(cfg, logging.getLogger('test_shared_pieces'))
    assert str(ew.value) == str(e.value).replace('nan_ema', 'nan')


# --- two lists of config keys, two names ------------------------------------------------------

def test_config_path_keys_are_relative_to_tools(tmp_path):
    from lib.config import load
    from lib.utils.runtime import TOOLS_DIR
    assert not hasattr(load, 'PATH_KEYS')
    yaml_path = tmp_path / 'c.yaml'
    yaml_path.write_text('DATA_DIR: d\nOUTPUT_DIR: o\nLOG_DIR: l\nTRAIN:\n  LIFTER_PRETRAIN_PATH: p.pth.tar\n')
    cfg = load.load_run_config(str(yaml_path))
    for key, rel in zip(load.TOOLS_RELATIVE_PATH_KEYS, ('d', 'o', 'l', 'p.pth.tar')):
        sec, _, k = key.rpartition('.')
        assert (cfg[sec] if sec else cfg)[k] == os.path.normpath(os.path.join(TOOLS_DIR, rel)), key


def test_exported_config_drops_the_machine_keys():
    from lib.models import checkpoint
    assert not hasattr(checkpoint, 'PATH_KEYS')
    ck = torch.load(DEMO_MODEL, weights_only=True)
    cfg = {'GPU': '0', 'OUTPUT_DIR': '/o', 'LOG_DIR': '/l', 'DATA_DIR': '/d', 'USE_GT': True,
           'DATA': {'TRAIN_PATH': '/t', 'VALID_PATH': '/v', 'DATASET_NAME': 'x'},
           'TRAIN': {'LIFTER_PRETRAIN_PATH': '/p', 'USE_SCALER': True}}
    small = checkpoint.inference_checkpoint(dict(ck, config=cfg), DEMO_MODEL)
    assert small['config'] == {'USE_GT': True, 'DATA': {'DATASET_NAME': 'x'}, 'TRAIN': {'USE_SCALER': True}}
    assert len(checkpoint.EXPORT_DROPPED_KEYS) == 7
    assert cfg['DATA']['TRAIN_PATH'] == '/t'           # the checkpoint's own config is not changed


# --- smaller repeats ---------------------------------------------------------------------------

def test_speed_comparison_times_every_side_alike():
    from lib.parity.benchmark import Sides
    calls = []
    wall, cpu = Sides._timed(SimpleNamespace(device=torch.device('cpu')), lambda: calls.append(sum(range(10 ** 5))))
    assert calls == [sum(range(10 ** 5))] and wall > 0 and cpu >= 0


def test_bvh_joint_and_end_site_children_parse_by_one_branch():
    from lib.prep.bvh import parse_bvh
    text = ('HIERARCHY\nROOT r\n{\n  OFFSET 0 0 0\n  CHANNELS 3 Xposition Yposition Zposition\n  JOINT c\n  {\n'
            '    OFFSET 0 1 0\n    End Site\n    {\n      OFFSET 0 1 0\n    }\n  }\n}\n'
            'MOTION\nFrames: 1\nFrame Time: 0.1\n0 0 0\n')
    bvh = parse_bvh(text)
    assert bvh.names == ['r', 'c', 'c_End'] and list(bvh.parents) == [-1, 0, 1]


@pytest.mark.parametrize('child', ['JOINT c', 'End Site'])
def test_bvh_end_site_with_a_child_is_refused_either_way(child):
    from lib.prep.bvh import parse_bvh
    text = ('HIERARCHY\nROOT r\n{\n  OFFSET 0 0 0\n  CHANNELS 3 Xposition Yposition Zposition\n'
            '  End Site\n  {\n    OFFSET 0 1 0\n    %s\n    {\n      OFFSET 0 1 0\n    }\n  }\n}\n'
            'MOTION\nFrames: 1\nFrame Time: 0.1\n0 0 0\n' % child)
    with pytest.raises(UserError) as e:
        parse_bvh(text, 'x.bvh')
    assert str(e.value).startswith('error: BVH: an End Site has no child joints (x.bvh:9)')
