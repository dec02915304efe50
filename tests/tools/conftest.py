"""Fixtures of the entry-point tests."""
import pytest

import synth
from helpers import make_state_checkpoint, write_cfg


@pytest.fixture
def state_checkpoint(tmp_path, data_dir):
    ck = tmp_path / 'tiny_model.pth.tar'
    make_state_checkpoint(write_cfg(tmp_path, data_dir), ck)
    return ck


@pytest.fixture(scope='module')
def ctx_base(tmp_path_factory, tiny_checkpoint):
    d = tmp_path_factory.mktemp('bad_inputs_data') / 'data'
    synth.write_npz(str(d))
    yaml_path, ckpt = tiny_checkpoint
    return {'data': d, 'tiny': tiny_checkpoint, 'yaml': yaml_path,
            'model': ['--cfg', yaml_path, '--pretrain', ckpt, '--gpu', '-1']}
