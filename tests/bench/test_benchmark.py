"""The benchmarks: the speed benchmark's floor step is the training step and its end-to-end
JSON line; the accuracy benchmark's aggregation and its bad input."""
import json
import os
import subprocess
import sys

import pytest
import torch

from helpers import REPO
from helpers import tiny_cfg, tiny_split
from lib.train import step as T
from lib.train import schedule as TS


# --- the speed benchmark's floor is the training step ---------------------------

def test_benchmark_floor_step_is_train_epochs_step():
    """The speed benchmark's floor runs the very step train_epoch runs (same weights
    after a period of the alternating schedule with scaler, TMC and discriminator steps)."""
    from lib.bench.speed import floor_step, schedule_period
    from lib.train.state import TrainState, seed_everything
    # the floor times steps: without the end-of-epoch forward, as the benchmark runs it
    cfg = tiny_cfg('TRAIN.USE_SCALER', 'true', 'TRAIN.USE_CYCLE', 'true', 'TRAIN.USE_NEW_TEMP', 'true',
                   'COMPAT.EPOCH_END_FORWARD', 'false')
    sch = TS.epoch_scheme(cfg, 0)
    n = schedule_period(cfg, sch)
    assert n == 6                                     # 2-step alternation x D every 3rd mainnet step
    cfg.TRAIN.MAX_STEPS_PER_EPOCH = n
    data = tiny_split(128)
    seed_everything(0)
    a = TrainState(cfg, torch.device('cpu'))
    T.train_epoch(a, data, cfg, 0)
    seed_everything(0)
    b = TrainState(cfg, torch.device('cpu'))
    g = torch.Generator()
    g.manual_seed(int(cfg.RANDOM_SEED))
    perm = TS.epoch_permutation(len(data), cfg.RANDOM_SEED, 0)
    nb, far = TS.batch_needs(cfg, sch)
    for k in range(n):
        floor_step(b, data.batch(perm[k * 16:(k + 1) * 16], cfg, g, nb, far), cfg, sch)
    assert (a.step, a.gan_step) == (b.step, b.gan_step) == (6, 3)
    for m1, m2 in ((a.model, b.model), (a.D, b.D)):
        for (k, v), w in zip(m1.state_dict().items(), m2.state_dict().values()):
            assert torch.equal(v, w), k


# --- the speed benchmark end to end ---------------------------------------------

def test_benchmark_speed_end_to_end_prints_the_json_line():
    """tools/benchmark_speed.py with a small network: every figure of the issue in the last
    line, both evaluation precisions timed, and a one-line error for a too-small --scale."""
    def run(*args):
        return subprocess.run([sys.executable, 'tools/benchmark_speed.py', '--device', 'cpu',
                               '--threads', '1'] + list(args), cwd=REPO, capture_output=True,
                              text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS='1'))
    r = run('--scale', '0.002', '--rounds', '1', '--eval-poses', '512', '--opts',
            'NETWORK.NUM_CHANNELS', '32', 'NETWORK.LIFTER_RES_BLOCKS', '1', 'BATCH_SIZE', '512')
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for k in ('floor_steps_per_s', 'pipeline_steps_per_s', 'ratio', 'eval_poses_per_s', 'peak_rss_mb'):
        assert out[k] > 0, k
    assert out['eval_poses'] == 512 and out['eval_precision'] == 'fp32'
    assert set(out['eval_by_precision']) == {'fp32', 'bf16'}
    assert 'evaluation bf16: 512 poses' in r.stdout
    r = run('--scale', '0.0001')
    assert r.returncode == 2 and 'fewer than one batch' in r.stderr and '{' not in r.stdout


# --- the accuracy benchmark ---------------------------------------------------------

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


def test_benchmark_trains_the_given_seeds_and_tables_every_finished_run(tmp_path, monkeypatch):
    # --only-seeds splits seeds between processes; a later call over all seeds trains nothing new
    from lib.bench import accuracy
    trained = []

    def fake_train(out, data, seed, variant, *args):
        path = accuracy.results_path(out, seed, variant)
        if not os.path.exists(path):
            trained.append((seed, variant))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            res = {m: 100.0 + seed for m in accuracy.METRICS}
            json.dump(res, open(path, 'w'))
        return json.load(open(path))

    monkeypatch.setattr(accuracy, 'train_variant', fake_train)
    accuracy.benchmark(str(tmp_path), None, [1], ['adv'])
    accuracy.benchmark(str(tmp_path), None, [0], ['adv'])
    assert trained == [(1, 'adv'), (0, 'adv')]
    accuracy.benchmark(str(tmp_path), None, range(2), ['adv'])
    assert len(trained) == 2
    bench = json.load(open(tmp_path / 'benchmark.json'))
    assert sorted(bench['per_seed']['adv']) == ['0', '1'] and bench['adv']['MPJPE'] == pytest.approx(100.5)


def test_benchmark_accuracy_bad_input_is_one_line(tmp_path):
    import subprocess
    import sys
    from helpers import REPO
    for args in (['--src', str(tmp_path / 'nowhere')], ['--seeds', '0'], ['--only-seeds', '-1']):
        r = subprocess.run([sys.executable, 'tools/benchmark_accuracy.py', '--out', str(tmp_path / 'out')] + args,
                           cwd=REPO, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith('error: ') and 'Traceback' not in r.stderr
        assert not (tmp_path / 'out').exists()                # no partial output


def test_scale_and_structure_apart_paired_to_both_references_and_curves(tmp_path):
    """Each seed's scale error is MPJPE minus the ground-truth-scale MPJPE; the summary pairs
    every variant with adv and adv_continued (differences and ratios); a warm-started
    variant's time includes its source's; curves.png is drawn from the recorded curves."""
    from lib.bench import accuracy
    from lib.bench.curves import curve_table, draw_curves
    out = str(tmp_path)

    def write(seed, variant, mpjpe, oracle, p, seconds, curve):
        path = accuracy.results_path(out, seed, variant)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        res = {'MPJPE': mpjpe, 'MPJPE_oracle_scale': oracle, 'N-MPJPE': oracle - 1, 'P-MPJPE': p,
               'seconds': seconds, 'scale_true_mean': 1.05}
        json.dump(res, open(path, 'w'))
        json.dump([{'epoch': e, 'MPJPE': mpjpe + 10 - e, 'MPJPE_oracle_scale': oracle, 'N-MPJPE': oracle - 1,
                    'P-MPJPE': p, 'scale_true_mean': 1.05} for e in curve],
                  open(os.path.join(os.path.dirname(path), 'curve.json'), 'w'))
        return res
    per_seed = {'adv': {}, 'adv_continued': {}, 'recommended': {}}
    for seed in (0, 1):
        for v, m, o, p, sec, cur in (('adv', 150, 120, 90, 100, [2, 4]), ('adv_continued', 145, 115, 85, 200, [2, 4, 6, 8]),
                                     ('recommended', 120 + seed, 115, 85, 30, [1, 2])):
            res = write(seed, v, m, o, p, sec, cur)
            per_seed[v][seed] = accuracy.seed_record(out, seed, v, res)
    r = per_seed['recommended'][1]
    assert r['scale_error'] == 6 and r['seconds_total'] == 230 and len(r['curve']) == 2
    s = accuracy.aggregate(per_seed)
    d = s['recommended']['paired_vs_adv_continued']
    assert d['MPJPE']['mean'] == pytest.approx(-24.5) and d['MPJPE']['ratio_max'] == pytest.approx(121 / 145)
    assert d['P-MPJPE']['ratio_mean'] == pytest.approx(1.0)
    assert s['adv_continued']['paired_vs_adv']['scale_error']['mean'] == pytest.approx(0)
    assert 'paired_vs_adv_continued' not in s['adv_continued']
    table = accuracy.format_summary(s)
    assert 'scale err' in table and 'recommended' in table
    x, vals = curve_table(per_seed['recommended'], 'scale_error', offset=8)
    assert list(x) == [9, 10] and vals.shape == (2, 2)
    png = draw_curves(per_seed, {'recommended': 'adv_continued', 'adv_continued': None, 'adv': None},
                      str(tmp_path / 'curves.png'))
    assert os.path.getsize(png) > 10000


def test_adv_continued_resumes_the_finished_adv_run(tmp_path, monkeypatch):
    """adv_continued is adv resumed to 32 epochs (--resume of a copy of adv's checkpoint and
    curve), not 32 epochs from scratch; its time counts adv's; a recommended run warm-starts
    from it and counts both."""
    from lib.bench import accuracy
    out = str(tmp_path)
    adv = os.path.dirname(accuracy.results_path(out, 0, 'adv'))
    os.makedirs(adv)
    for name, text in (('checkpoint.pth.tar', 'ck'), ('curve.json', '[]'),
                       ('results.json', json.dumps({'MPJPE': 1, 'seconds': 100}))):
        open(os.path.join(adv, name), 'w').write(text)
    cmds = []

    def fake_run(cmd, log_path, threads=0):
        cmds.append(cmd)
        res = os.path.join(os.path.dirname(log_path), cmd[cmd.index('--cfg') + 1][4:-5], 'results.json')
        os.makedirs(os.path.dirname(res), exist_ok=True)
        json.dump({'MPJPE': 2.0, 'MPJPE_oracle_scale': 1.0, 'N-MPJPE': 1.0, 'P-MPJPE': 1.0}, open(res, 'w'))
    monkeypatch.setattr(accuracy, '_run', fake_run)
    monkeypatch.setattr(accuracy.time, 'time', iter([0.0, 50.0, 0.0, 7.0]).__next__)
    res = accuracy.train_variant(out, 'data', 0, 'adv_continued')
    cont = os.path.dirname(accuracy.results_path(out, 0, 'adv_continued'))
    assert cmds[0][cmds[0].index('--resume') + 1] == os.path.join(cont, 'checkpoint.pth.tar')
    assert open(os.path.join(cont, 'checkpoint.pth.tar')).read() == 'ck'
    assert os.path.isfile(os.path.join(cont, 'curve.json')) and '32' in cmds[0]
    assert res['continued_from'] == 'adv' and accuracy.seed_record(out, 0, 'adv_continued', res)['seconds_total'] == 150
    rec = accuracy.train_variant(out, 'data', 0, 'recommended')
    assert '--pretrain' in cmds[1] and '--resume' not in cmds[1]
    assert accuracy.seed_record(out, 0, 'recommended', rec)['seconds_total'] == 157
