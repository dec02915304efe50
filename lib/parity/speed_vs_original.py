"""``tools/benchmark_vs_original.py``: both sides on one of the authors' YAMLs, timed and summarised.

:func:`compare_speed` checks the device and finds the authors' code and config, builds the two
sides (:class:`lib.parity.benchmark.Sides`), times them (:func:`lib.parity.benchmark.measure`)
and prints each round and the rates; it returns the summary with the settings used.
"""
import os

import torch

from lib.parity.benchmark import Sides, measure
from lib.parity.original import find_authors_dir, load_authors_code
from lib.utils.errors import UserError


def authors_config(cfg_path=None, authors_dir=None):
    """The YAML both sides train with: ``cfg_path``, else the authors' h36m_gt_scale.yaml."""
    root = find_authors_dir(authors_dir)
    if root is None:
        load_authors_code(authors_dir)          # raises the one-line error naming the folder
    cfg_path = cfg_path or os.path.join(root, 'cfg', 'h36m_gt_scale.yaml')
    if not os.path.isfile(cfg_path):
        raise UserError('config file not found', cfg_path, 'pass one of the authors\' YAMLs with --cfg')
    return cfg_path


def compare_speed(cfg_path=None, device='cpu', steps=10, rounds=2, width=0, batch_size=0, train_frames=20000,
                  test_frames=20000, threads=1, authors_dir=None, opts=(), say=print):
    """Time the authors' training and evaluation against ours; returns the summary dict of
    :func:`lib.parity.benchmark.measure` with the settings added.  ``width`` and ``batch_size``
    0 keep the config's; ``opts`` are KEY VALUE overrides of the project's config only."""
    if device == 'cuda' and not torch.cuda.is_available():
        raise UserError('--device cuda but CUDA is not available', '--device', 'use --device cpu')
    cfg_path = authors_config(cfg_path, authors_dir)
    torch.set_num_threads(threads)
    device = torch.device(device)
    say('device %s, torch %s, %d threads (torch.set_num_threads)' % (device, torch.__version__,
                                                                     torch.get_num_threads()))
    sides = Sides(cfg_path, device, width, batch_size, train_frames, test_frames, authors_dir, opts)
    try:
        cfg = sides.cfg
        say('config %s: batch %d, %d channels, USE_CYCLE %s, USE_SCALER %s, USE_NEW_TEMP %s; %d training, '
            '%d test poses' % (cfg_path, cfg.BATCH_SIZE, cfg.NETWORK.NUM_CHANNELS, cfg.TRAIN.USE_CYCLE,
                               cfg.TRAIN.USE_SCALER, cfg.TRAIN.USE_NEW_TEMP, len(sides.data), len(sides.test)))
        res = measure(sides, steps, rounds, say=say)
    finally:
        sides.close()
    say('training: original %.3f steps/s, project %.3f steps/s, ratio %.3f' % (
        res['original_steps_per_s'], res['project_steps_per_s'], res['ratio']))
    say('evaluation: original %.0f poses/s, project %.0f poses/s, ratio %.3f' % (
        res['original_eval_poses_per_s'], res['project_eval_poses_per_s'], res['eval_ratio']))
    say('by CPU time: training ratio %.3f, evaluation ratio %.3f' % (res['cpu_ratio'], res['cpu_eval_ratio']))
    res.update({'opts': list(opts), 'cfg': cfg_path, 'device': device.type, 'threads': torch.get_num_threads(),
                'steps': steps, 'rounds': rounds, 'batch_size': cfg.BATCH_SIZE,
                'width': cfg.NETWORK.NUM_CHANNELS, 'train_poses': len(sides.data), 'test_poses': len(sides.test)})
    return res
