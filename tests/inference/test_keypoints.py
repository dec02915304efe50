"""The demo input files (lib/inference/keypoints.py): every reader, and a malicious pickle
refused without running."""
import json
import pickle

import numpy as np
import pytest

from helpers import Evil, v3d_pose
from lib.data import skeleton as sk
from lib.inference.keypoints import read_input
from lib.inference.outputs import output_stems
from lib.utils.errors import UserError


def test_malicious_pickle_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pkl'
    evil.write_bytes(pickle.dumps({'joints_2d': Evil(marker)}, protocol=2))
    assert not marker.exists()
    with pytest.raises(UserError, match='refus'):
        read_input(str(evil))
    assert not marker.exists()


def test_demo_readers(tmp_path):
    pose = v3d_pose()
    np.save(tmp_path / 'a.npy', pose)
    np.savez(tmp_path / 'b.npz', keypoints=np.stack([pose] * 3))
    np.savez(tmp_path / 'c.npz', whatever=pose)
    (tmp_path / 'd.json').write_text(json.dumps({'keypoints': pose.tolist()}))
    (tmp_path / 'e.json').write_text(json.dumps([pose.tolist()] * 2))
    for name, seq, T in (('a.npy', False, 1), ('b.npz', True, 3), ('c.npz', False, 1),
                         ('d.json', False, 1), ('e.json', True, 2)):
        inp = read_input(str(tmp_path / name))
        assert inp.sequence == seq and inp.px_ours.shape == (T, 17, 2)
        np.testing.assert_allclose(inp.px_ours[0], sk.v3d_to_ours(pose))      # reordered to ours
    # a joint count that fits no order names the orders; (T, 17, 3) is now a confidence column
    bad = {'f.npy': (np.ones((16, 2)), 'joints per pose'), 'g.npy': (np.ones((2, 17, 4)), 'shape')}
    for name, (arr, msg) in bad.items():
        np.save(tmp_path / name, arr)
        with pytest.raises(UserError, match=msg):
            read_input(str(tmp_path / name))
    nan = pose.copy()
    nan[4, 0] = np.nan
    np.save(tmp_path / 'h.npy', nan)
    with pytest.raises(UserError, match='NaN'):
        read_input(str(tmp_path / 'h.npy'))
    (tmp_path / 'i.csv').write_text('1,2\n')
    with pytest.raises(UserError, match='unknown input type'):
        read_input(str(tmp_path / 'i.csv'))
    (tmp_path / 'j.json').write_text('{"keypoints": [1, 2')
    with pytest.raises(UserError, match='malformed JSON'):
        read_input(str(tmp_path / 'j.json'))
    assert output_stems(['x/a.npy', 'x/a.json', 'x/b.pkl']) == ['a_npy', 'a_json', 'b']
