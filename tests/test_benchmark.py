"""The accuracy benchmark's aggregation and the EMA rule (issue: trustworthy comparison)."""
import pytest
import torch

from lib.core.ema import EMA


def test_aggregate_means_spread_and_paired_difference():
    from lib.bench.accuracy import aggregate
    mk = lambda a, b, c: {'MPJPE': a, 'N-MPJPE': b, 'P-MPJPE': c, 'MPJPE_oracle_scale': b, 'seconds': 10.0}
    per_seed = {'adv': {0: mk(100, 90, 50), 1: mk(110, 95, 54)},
                'best': {0: mk(90, 85, 48), 1: mk(104, 93, 53)}}
    s = aggregate(per_seed)
    assert s['adv']['MPJPE'] == pytest.approx(105)
    assert s['adv']['spread']['MPJPE'] == {'std': pytest.approx(5), 'min': 100, 'max': 110}
    d = s['best']['paired_vs_adv']['MPJPE']
    assert d['mean'] == pytest.approx(-8) and d['min'] == -10 and d['max'] == -6 and d['n'] == 2
    assert 'paired_vs_adv' not in s['adv']


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


def test_benchmark_accuracy_bad_input_is_one_line(tmp_path):
    import subprocess
    import sys
    from conftest import REPO
    for args in (['--src', str(tmp_path / 'nowhere')], ['--seeds', '0']):
        r = subprocess.run([sys.executable, 'tools/benchmark_accuracy.py', '--out', str(tmp_path / 'out')] + args,
                           cwd=REPO, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith('error: ') and 'Traceback' not in r.stderr
        assert not (tmp_path / 'out').exists()                # no partial output
