import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.normpath(os.path.join(REPO, '..', 'shared'))
for p in (REPO, os.path.join(REPO, 'tests')):
    if p not in sys.path:
        sys.path.insert(0, p)


@pytest.fixture
def tiny_data(tmp_path):
    """A tiny synthetic dataset in both formats and a tiny-model config; returns (cfg path, dirs)."""
    import synth
    data = tmp_path / 'data'
    synth.write_npz(str(data))
    synth.write_h5(str(data))
    cfg = tmp_path / 'tiny.yaml'
    cfg.write_text(synth.TINY_YAML.format(data=data, out=tmp_path / 'out', log=tmp_path / 'log'))
    return cfg, tmp_path
