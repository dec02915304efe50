"""Detector file formats (lib/inference/keypoint_json.py, keypoints.py): a confidence column
marks missing joints, OpenPose and MMPose JSON."""
import json

import numpy as np
import pytest

from helpers import coco_pose, demo_2d_v3d
from lib.data import skeleton as sk
from lib.inference import joint_orders as jo
from lib.inference.keypoints import read_input
from lib.utils.errors import UserError


def test_confidence_column_marks_missing_joints(tmp_path):
    pose = demo_2d_v3d(0)
    seq = np.concatenate([np.stack([pose] * 3), np.ones((3, 17, 1))], -1)
    seq[1, 13, 2] = 0.0                     # a wrist not detected: filled, listed
    seq[2, 4, 2] = 0.0                      # a hip not detected: the frame is skipped
    seq[2, 4, :2] = np.nan
    np.save(tmp_path / 'c.npy', seq)
    inp = read_input(str(tmp_path / 'c.npy'))
    assert list(inp.skipped) == [2] and 'LHip' in inp.skipped[2]
    assert inp.missing[1, sk.OURS_NAMES.index('LWrist')] and not inp.missing[0].any()
    np.testing.assert_allclose(inp.px_ours[1, sk.OURS_NAMES.index('LWrist')],
                               pose[12])                          # onto the elbow (its parent)


def test_openpose_and_mmpose_json(tmp_path):
    coco = coco_pose()
    op = np.zeros((25, 3))
    for k in range(len(jo.LANDMARK_NAMES)):
        op[jo.LANDMARKS['openpose25'][k], :2] = coco[jo.LANDMARKS['coco17'][k]]
        op[jo.LANDMARKS['openpose25'][k], 2] = 0.9
    small = op.copy()
    small[:, :2] = small[:, :2] * 0.3
    (tmp_path / 'op.json').write_text(json.dumps({'version': 1.3, 'people': [
        {'pose_keypoints_2d': small.ravel().tolist()}, {'pose_keypoints_2d': op.ravel().tolist()}]}))
    inp = read_input(str(tmp_path / 'op.json'), 'openpose25')
    ref, _ = jo.to_v3d17(coco[None], 'coco17')
    np.testing.assert_allclose(sk.ours_to_v3d(inp.px_ours), ref)          # the larger person
    with pytest.raises(UserError, match='25 joints per pose.*openpose25'):
        read_input(str(tmp_path / 'op.json'))                              # the default order is h36m
    inst = {'keypoints': coco.tolist(), 'keypoint_scores': [0.9] * 17}
    (tmp_path / 'mm.json').write_text(json.dumps([[inst], [], [inst]]))
    inp = read_input(str(tmp_path / 'mm.json'), 'coco17')
    assert inp.sequence and list(inp.skipped) == [1]
    (tmp_path / 'mm1.json').write_text(json.dumps({'instance_info': [{'frame_id': 1, 'instances': [inst]}]}))
    assert read_input(str(tmp_path / 'mm1.json'), 'coco17').px_ours.shape == (1, 17, 2)
    (tmp_path / 'bad.json').write_text(json.dumps({'people': [{'face_keypoints_2d': []}]}))
    with pytest.raises(UserError, match='pose_keypoints_2d'):
        read_input(str(tmp_path / 'bad.json'), 'openpose25')
    (tmp_path / 'bad2.json').write_text(json.dumps([{'bbox': [0, 0, 1, 1]}]))
    with pytest.raises(UserError, match='MMPose instance without "keypoints".*keypoint_scores'):
        read_input(str(tmp_path / 'bad2.json'), 'coco17')
