"""The opt-in bf16 inference copy of lib/models/precision.py: BatchNorm folding exact in
float64, the copy rewrites the network and leaves the model alone."""
import pytest
import torch

from helpers import tiny_cfg, tiny_split


# --- opt-in bf16 evaluation (EVAL.PRECISION) --------------------------------------

def _model_with_bn_stats(seed=0, *opts):
    """A PoseModel (scaler on, 2 lifter blocks) with non-trivial BN statistics and affine
    parameters, as a trained network has them."""
    from lib.data.formats import pose_model_args
    from lib.models.pose_model import get_pose_model
    torch.manual_seed(seed)
    cfg = tiny_cfg('NETWORK.NUM_CHANNELS', '64', 'NETWORK.LIFTER_RES_BLOCKS', '2',
                   'TRAIN.USE_SCALER', 'true', *opts)
    m = get_pose_model(cfg, **pose_model_args(cfg))
    for bn in (mod for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm1d)):
        if bn.running_mean is not None:
            bn.running_mean.normal_(0, 0.3)
            bn.running_var.uniform_(0.2, 3.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.normal_(0, 0.2)
    return m.eval()


def test_bn_folding_is_exact_in_float64():
    from lib.models.precision import _fold_bn
    m = _model_with_bn_stats()
    lin, bn = m.lifter_before.blocks[0].main[0], m.lifter_before.blocks[0].main[1]
    x = torch.randn(32, lin.in_features, dtype=torch.float64)
    ref = torch.nn.functional.batch_norm(
        x @ lin.weight.double().t() + lin.bias.double(), bn.running_mean.double(),
        bn.running_var.double(), bn.weight.double(), bn.bias.double(), False, 0.0, bn.eps)
    w, b = _fold_bn(lin, bn)
    assert torch.allclose(x @ w.t() + b, ref, rtol=0, atol=1e-12)


def test_bf16_copy_rewrites_the_network_exactly_and_leaves_the_model_alone():
    """The rewrite (folded BN, fused blocks, float32 ends) in float32 reproduces the model's lift
    to float32 rounding; in bf16 it stays within bf16 rounding of it; the model is unchanged."""
    from lib.eval.lifting import lift_in_batches
    from lib.models.precision import bf16_inference_copy
    m = _model_with_bn_stats()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    x = tiny_split(512).pose_2d
    ref, s_ref = lift_in_batches(m, x, as_tensor=True)
    same, s_same = lift_in_batches(bf16_inference_copy(m, dtype=torch.float32), x, as_tensor=True)
    assert torch.allclose(same, ref, rtol=1e-4, atol=1e-5) and torch.allclose(s_same, s_ref, rtol=1e-5)
    fast, s_fast = lift_in_batches(m, x, as_tensor=True, precision='bf16')
    rel = (fast - ref).norm(dim=-1).mean() / ref.norm(dim=-1).mean()
    assert 1e-5 < rel < 1e-2, rel                     # bf16 rounding: present, and small
    assert (s_fast / s_ref - 1).abs().max() < 2e-2
    assert fast.dtype == torch.float32
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())
    assert torch.equal(lift_in_batches(m, x, as_tensor=True)[0], ref)
    copy_ = bf16_inference_copy(m).train()
    with pytest.raises(RuntimeError, match='cannot be trained'):
        copy_.lift(x[:4])


def test_bf16_copy_without_scaler_and_untracked_bn_rules():
    from lib.config.load import validate
    from lib.eval.lifting import lift_in_batches
    from lib.models.precision import bf16_inference_copy
    from lib.utils.errors import UserError
    m = _model_with_bn_stats(1, 'TRAIN.USE_SCALER', 'false', 'NETWORK.LIFTER_RES_BLOCKS', '0')
    x = tiny_split(64).pose_2d
    ref, s = lift_in_batches(m, x, as_tensor=True)
    assert s is None
    assert torch.allclose(lift_in_batches(bf16_inference_copy(m, dtype=torch.float32), x, as_tensor=True)[0],
                          ref, rtol=1e-4, atol=1e-5)
    for opts, msg in ((['EVAL.PRECISION', 'fp16'], "EVAL.PRECISION must be one of fp32/bf16, got 'fp16'"),
                      (['EVAL.PRECISION', 'bf16', 'NETWORK.BN_TRACK', 'false'], 'BN_TRACK')):
        with pytest.raises(UserError, match=msg):
            validate(tiny_cfg(*opts))
    with pytest.raises(ValueError, match='BN_TRACK'):
        bf16_inference_copy(_model_with_bn_stats(2, 'NETWORK.BN_TRACK', 'false'))
