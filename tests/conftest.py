"""Fixtures shared by the test folders.  The repository root and tests/ are on ``sys.path``
(``pythonpath`` in pytest.ini): ``lib``, ``helpers``, ``synth`` and ``layout_fixtures`` import
from every folder."""
import pytest


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


@pytest.fixture(scope='session')
def tiny_checkpoint(tmp_path_factory):
    """A tiny PoseModel (with scaler) checkpoint and a YAML that matches it: (yaml, ckpt)."""
    import torch
    from lib.config.defaults import get_default
    from lib.data.formats import pose_model_args
    from lib.models.pose_model import PoseModel

    d = tmp_path_factory.mktemp('tiny')
    cfg = get_default()
    cfg.NETWORK.NUM_CHANNELS = 32
    cfg.NETWORK.LIFTER_RES_BLOCKS = 1
    cfg.TRAIN.USE_SCALER = True
    torch.manual_seed(0)
    ckpt = d / 'tiny.pth.tar'
    torch.save({'pose_model_state_dict': PoseModel(cfg, **pose_model_args(cfg)).state_dict()}, ckpt)
    yaml_path = d / 'tiny.yaml'
    yaml_path.write_text('NETWORK:\n  NUM_CHANNELS: 32\n  LIFTER_RES_BLOCKS: 1\nTRAIN:\n  USE_SCALER: true\n')
    return str(yaml_path), str(ckpt)


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    """The tiny synthetic dataset (npz) of ``synth.py``, once per test module."""
    import synth
    d = tmp_path_factory.mktemp('synth') / 'data'
    synth.write_npz(str(d))
    return d


@pytest.fixture
def one_thread():
    """One thread (bitwise-repeatable sums, and no thread contention on a busy machine)."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def _no_held_warnings_from_earlier_tests():
    """Config warnings held for the next run's log file (lib/utils/runtime._HELD) belong to one
    process's run; a test that raised some and made no log must not hand them to the next test."""
    from lib.utils import runtime
    runtime._HELD.clear()
    yield
