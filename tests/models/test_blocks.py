"""The residual trunk that the lifter, the scaler and both discriminators share
(lib/models/blocks.py): the authors' state-dict keys, and pre-layer then blocks fed the raw input."""
import pytest
import torch

from helpers import DEMO_MODEL
from lib.config.defaults import get_default


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
