"""Mixed precision (TRAIN.AMP) and torch.compile smoke tests on the CPU."""
import os

import pytest
import torch

from helpers import tiny_cfg, tiny_split
from lib.data.formats import pose_model_args
from lib.train import step as T

# one thread: bitwise-repeatable sums, and no thread contention on a busy machine
pytestmark = pytest.mark.usefixtures('one_thread')


def _train_steps(cfg, n_steps=2):
    from lib.train.state import TrainState, seed_everything
    seed_everything(0)
    cfg.TRAIN.MAX_STEPS_PER_EPOCH = n_steps
    state = TrainState(cfg, torch.device('cpu'))
    before = {k: v.clone() for k, v in state.model.state_dict().items()}
    data = tiny_split(64)
    assert T.train_epoch(state, data, cfg, 0) == 'done'
    return state, before


def test_amp_bf16_autocast_cpu_smoke():
    """TRAIN.AMP: the forward passes run under bf16 autocast (CPU here, CUDA alike); the
    weights stay float32, the losses finite, and every weight of the lifter moves."""
    cfg = tiny_cfg('TRAIN.AMP', 'true', 'TRAIN.USE_NEW_TEMP', 'true', 'TRAIN.NUM_CRITICS', '1')
    state, before = _train_steps(cfg)
    with state.autocast():
        out = state.model.lifter_before.pre[0](torch.randn(4, 34))
    assert out.dtype == torch.bfloat16
    sd = state.model.state_dict()
    assert all(v.dtype == torch.float32 for k, v in sd.items() if v.is_floating_point())
    assert all(torch.isfinite(v).all() for v in sd.values())
    moved = [k for k in sd if k.endswith('weight') and not torch.equal(sd[k], before[k])]
    assert any('lifter_after' in k for k in moved) and any('lifter_before' in k for k in moved)
    with state.autocast():                            # the loss of a batch is finite in bf16
        b = tiny_split(64).batch(torch.arange(16), cfg, None, True, False)
        terms = T.generator_losses(state.fwd_model, state.D, state.Dt, b, cfg, 'joint', 'joint')
    assert all(torch.isfinite(v) for _, v in terms.values())
    cfg.TRAIN.AMP = False
    with state.autocast():
        assert state.model.lifter_before.pre[0](torch.randn(4, 34)).dtype == torch.float32


def test_compile_in_place_cpu_smoke(monkeypatch):
    """TRAIN.COMPILE: the models' forwards are compiled in place (dynamo + AOT autograd; the
    ``aot_eager`` backend here keeps the test fast -- inductor's C++ build takes minutes on
    2 cores; ``UVHPE_SLOW_TESTS=1`` runs it too), through the alternating scheme with the
    scaler, TMC and the discriminator: state-dict keys unchanged, training finite, and the
    compiled model computes what the eager one does."""
    from lib.models import compile as S
    backend = 'inductor' if os.environ.get('UVHPE_SLOW_TESTS') else 'aot_eager'
    monkeypatch.setattr(S, 'COMPILE_BACKEND', backend)
    torch._dynamo.reset()
    cfg = tiny_cfg('TRAIN.COMPILE', 'true', 'TRAIN.USE_SCALER', 'true', 'TRAIN.USE_CYCLE', 'true',
                   'TRAIN.USE_NEW_TEMP', 'true', 'TRAIN.NUM_CRITICS', '1')
    state, before = _train_steps(cfg, n_steps=3)
    assert state.compiled
    sd = state.model.state_dict()
    assert list(sd) == list(before)                   # no '_orig_mod.' prefixes
    assert all(torch.isfinite(v).all() for v in sd.values())
    assert any(not torch.equal(sd[k], before[k]) for k in sd)
    from lib.models.pose_model import get_pose_model
    eager = get_pose_model(cfg, **pose_model_args(cfg))
    eager.load_state_dict(sd)
    eager.eval(), state.model.eval()
    x, rot = tiny_split(64).pose_2d[:8], torch.zeros(8, 3)
    with torch.no_grad():
        a, b = state.model(x, rot), eager(x, rot)
    assert torch.allclose(a.recn_3d, b.recn_3d, atol=1e-5) and torch.allclose(a.est_3d, b.est_3d, atol=1e-5)
    torch._dynamo.reset()


def test_compile_without_compiler_falls_back_with_a_warning(monkeypatch):
    from lib.models import compile as S
    monkeypatch.delenv('CXX', raising=False)
    monkeypatch.setattr(S.shutil, 'which', lambda name: None)
    assert 'C++ compiler' in S.compile_unavailable(torch.device('cpu'))
    cfg = tiny_cfg('TRAIN.COMPILE', 'true')
    with pytest.warns(UserWarning, match='TRAIN.COMPILE: torch.compile cannot run here .*training without it'):
        state, _ = _train_steps(cfg, n_steps=1)
    assert state.compiled is False
    assert not hasattr(state.model, '_compiled_call_impl') or state.model._compiled_call_impl is None
