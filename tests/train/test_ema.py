"""The EMA of the weights (lib/train/ema.py)."""
import pytest
import torch

from lib.train.ema import EMA

# one thread: bitwise-repeatable sums, and no thread contention on a busy machine
pytestmark = pytest.mark.usefixtures('one_thread')


def test_ema_update_rule():
    m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    ema = EMA(m, 0.9)
    w0 = m[0].weight.detach().clone()
    with torch.no_grad():
        m[0].weight.add_(1.0)
    m.train()(torch.randn(4, 2))                      # BN buffers move too
    ema.update(m)
    assert torch.allclose(ema.module[0].weight, 0.9 * w0 + 0.1 * (w0 + 1.0))
    assert ema.module[1].num_batches_tracked.item() == m[1].num_batches_tracked.item()
    assert not any(p.requires_grad for p in ema.module.parameters())
