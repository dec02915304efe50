"""Speed of the authors' training loop and evaluation against this project's, same data and config.

Both sides get one of the authors' YAMLs (through their config loader and
through ours), the same synthetic data set written in their h5 layout, and
the same network (optionally narrower, ``width``).  The authors' side is their
``train()`` fed by their own ``Human36MDataset`` through a shuffled
``DataLoader`` (``NUM_WORKERS`` 0), as their ``main.py`` runs it; ours is
``lib.train.step.train_epoch`` on a :class:`~lib.data.batches.TensorSplit`,
as ``tools/main.py`` runs it.  The end-of-epoch figure of theirs is not drawn
(no summary writer) and ours is off (``COMPAT.EPOCH_END_FORWARD``), so both
time the training steps alone; ours runs with ``COMPAT.FROZEN_KEEP_MOMENTUM``
false, the semantics their code has on PyTorch >= 2.0 (frozen parameters get no
gradient and no Adam update), so that both do the same work (the same passes
per step, and no Adam update of a frozen module on either side).  Rounds alternate which side runs
first (ABBA), each timing ``steps`` steps after a warm-up; wall time and the
process's CPU time are both kept (on a shared machine the CPU time is the
steadier figure).  Evaluation: their ``evaluate``
(the ``--eval`` path: lift, per-batch MPJPE and P-MPJPE) against our
``lib.eval.evaluate.evaluate`` (lift and every metric), over the test split.
"""
import itertools
import os
import shutil
import tempfile
import time

import h5py
import numpy as np
import torch

from lib.config.defaults import get_default
from lib.config.load import apply_opts, update_config
from lib.data.batches import TensorSplit
from lib.data.dataset import read_h5
from lib.data.skeleton import ours_to_v3d
from lib.data.synthetic import synthetic_sequence
from lib.eval.evaluate import evaluate
from lib.parity.original import load_authors_code
from lib.train import step as T
from lib.train.state import TrainState


def write_synthetic_h5(path, n_seq, seq_len, seed):
    """A data set in the authors' h5 layout: ``n_seq`` sequences of ``seq_len`` frames of the
    synthetic skeleton of ``lib.data.synthetic`` (the speed benchmark's), in the files' joint
    order (v3d); detections = the projections plus 2 px of noise."""
    rng = np.random.RandomState(seed)
    seqs = [synthetic_sequence(seq_len, rng, i) for i in range(n_seq)]
    X = ours_to_v3d(np.concatenate([x for x, _ in seqs]))
    uv = ours_to_v3d(np.concatenate([u for _, u in seqs]))
    names = ['S%d/Act %d/%d/%d' % (1 + i // 8, i % 8, i % 4, f) for i in range(n_seq) for f in range(seq_len)]
    with h5py.File(path, 'w') as f:
        f['imagename'] = np.array([n.encode() for n in names])
        f['joint_2d_gt'] = uv
        f['joint_2d_pre'] = uv + rng.normal(0, 2, uv.shape)
        f['joint_3d_gt'] = X


class _Limited:
    """The first ``n`` batches of a DataLoader, with the loader's ``dataset``."""

    def __init__(self, loader, n):
        self.loader, self.n, self.dataset = loader, n, loader.dataset

    def __len__(self):
        return self.n

    def __iter__(self):
        return itertools.islice(iter(self.loader), self.n)


def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize()


class Sides:
    """Both sides built on the same data and config, ready to be timed."""

    def __init__(self, yaml_path, device, width, batch, train_frames, test_frames, authors_dir=None,
                 opts=()):
        self.device = device
        self.tmp = tempfile.mkdtemp(prefix='bench_vs_original_')
        seq = 200
        self.train_path = os.path.join(self.tmp, 'h36m_train_pred3.h5')
        self.valid_path = os.path.join(self.tmp, 'h36m_valid_pred3.h5')
        write_synthetic_h5(self.train_path, max(1, train_frames // seq), seq, 1)
        write_synthetic_h5(self.valid_path, max(1, test_frames // seq), seq, 2)
        self.authors = load_authors_code(authors_dir)
        over = {'NETWORK.NUM_CHANNELS': width} if width else {}
        if batch:
            over['BATCH_SIZE'] = batch
        self.their_cfg = self.authors.config_from_yaml(yaml_path, over)
        self.their_cfg.DATA.TRAIN_PATH, self.their_cfg.DATA.VALID_PATH = self.train_path, self.valid_path
        self.cfg = get_default()
        update_config(self.cfg, yaml_path)
        mine = ['COMPAT.EPOCH_END_FORWARD', 'false', 'TRAIN.PRETRAIN_LIFTER', 'false',
                'COMPAT.FROZEN_KEEP_MOMENTUM', 'false']
        mine += [str(v) for kv in over.items() for v in kv]
        apply_opts(self.cfg, mine + list(opts))
        self._build_theirs()
        self._build_ours()

    def _build_theirs(self):
        a, cfg = self.authors, self.their_cfg
        self.their_train = a.dataset(cfg, is_train=True)
        self.their_test = a.dataset(cfg, is_train=False)
        models = a.build_models(cfg)
        if self.device.type == 'cuda':
            models = tuple(m.cuda() for m in models)
        self.their_models, self.their_opts = models, a.optimizers(cfg, *models)
        mk = lambda ds, shuffle: torch.utils.data.DataLoader(ds, batch_size=cfg.BATCH_SIZE, shuffle=shuffle,
                                                             num_workers=0, pin_memory=self.device.type == 'cuda')
        self.their_loader, self.their_test_loader = mk(self.their_train, True), mk(self.their_test, False)

    def _build_ours(self):
        cfg = self.cfg
        self.split = read_h5(self.train_path, cfg.USE_GT).finish()
        self.test_split = read_h5(self.valid_path, cfg.USE_GT).finish()
        self.data = TensorSplit.from_split(self.split, cfg, self.device)
        self.test = TensorSplit.from_split(self.test_split, cfg, self.device, train=False)
        self.state = TrainState(cfg, self.device)
        self._epoch = 0

    def close(self):
        self.authors.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _timed(self, work):
        """(wall, CPU) seconds of ``work()``, the device synchronised before and after."""
        _sync(self.device)
        t, c = time.perf_counter(), time.process_time()
        work()
        _sync(self.device)
        return time.perf_counter() - t, time.process_time() - c

    def run_original(self, steps):
        """Seconds for ``steps`` of their training steps (a fresh shuffled pass)."""
        return self._timed(lambda: self.authors.train(self.their_cfg, _Limited(self.their_loader, steps),
                                                      self.their_models, self.their_opts, 0))

    def run_project(self, steps):
        """Seconds for ``steps`` of our training steps (a fresh epoch)."""
        self.cfg.TRAIN.MAX_STEPS_PER_EPOCH = steps
        self.state.step_in_epoch = 0
        seconds = self._timed(lambda: T.train_epoch(self.state, self.data, self.cfg, self._epoch))
        self._epoch += 1
        return seconds

    def eval_original(self, _=None):
        def work():
            with self.authors.running():
                self.authors.mods['function2' if self.their_cfg.TRAIN.USE_CYCLE else 'function1'].evaluate(
                    self.their_test_loader, self.their_models[0], self.their_cfg)
        return self._timed(work)

    def eval_project(self, _=None):
        return self._timed(lambda: evaluate(self.state.model, self.test, self.test_split, self.cfg, write=False))


def measure(sides, steps, rounds, warmup=2, say=print):
    """ABBA rounds of training and of evaluation; returns the summary dict (rates from wall
    time; ``cpu_ratio`` / ``cpu_eval_ratio`` from the process's CPU time)."""
    sides.run_original(warmup)
    sides.run_project(warmup)
    wall = {'original': [], 'project': [], 'original_eval': [], 'project_eval': []}
    cpu = {k: [] for k in wall}
    jobs = {'original': sides.run_original, 'project': sides.run_project,
            'original_eval': sides.eval_original, 'project_eval': sides.eval_project}
    for r in range(rounds):
        for pair in (('original', 'project'), ('original_eval', 'project_eval')):
            for name in (pair if r % 2 == 0 else pair[::-1]):
                w, c = jobs[name](steps)
                wall[name].append(w)
                cpu[name].append(c)
                what = '%d steps' % steps if 'eval' not in name else '%d poses' % len(sides.test_split)
                say('round %d %-13s %s in %.2f s (CPU %.2f s)' % (r + 1, name, what, w, c))
    rate = lambda t, n: n * rounds / sum(t)
    n_eval = len(sides.test_split)
    o, p = rate(wall['original'], steps), rate(wall['project'], steps)
    oe, pe = rate(wall['original_eval'], n_eval), rate(wall['project_eval'], n_eval)
    return {'original_steps_per_s': round(o, 4), 'project_steps_per_s': round(p, 4),
            'ratio': round(p / o, 4), 'original_eval_poses_per_s': round(oe, 1),
            'project_eval_poses_per_s': round(pe, 1), 'eval_ratio': round(pe / oe, 4),
            'cpu_ratio': round(sum(cpu['original']) / sum(cpu['project']), 4),
            'cpu_eval_ratio': round(sum(cpu['original_eval']) / sum(cpu['project_eval']), 4),
            'wall_seconds': {k: [round(x, 3) for x in v] for k, v in wall.items()},
            'cpu_seconds': {k: [round(x, 3) for x in v] for k, v in cpu.items()}}
