"""Named splits of the accuracy benchmark (lib/bench/splits.py) and ``--splits`` of
tools/benchmark_accuracy.py: names and sets, the cross-source folder of links, ratios pooled over
(split, seed) pairs, and one table per split.  Training is faked: these test the bookkeeping."""
import json
import os
import re

import pytest

from lib.bench import accuracy
from lib.bench import splits as S
from lib.utils.errors import UserError


def test_sets_resolve_in_order_once_and_unknown_names_are_refused():
    assert S.resolve_splits(['study']) == ['salsa_martial', 'martial_salsa', 'bandai_actions']
    assert S.resolve_splits(['martial_salsa', 'dev', 'martial_salsa']) == ['martial_salsa', 'salsa_martial']
    assert S.resolve_splits(['all'])[-1] == 'cmu_to_bandai'
    with pytest.raises(UserError, match='unknown split'):
        S.resolve_splits(['salsa'])
    for name, spec in S.SPLITS.items():        # a split never tests on what it trains
        assert not set(spec.test) & set(spec.train), name
    assert set(S.SPLITS['bandai_actions'].test) | set(S.SPLITS['bandai_actions'].train) == set(S.BANDAI_ALL)


def test_cross_source_split_converts_a_folder_of_links(tmp_path):
    root = tmp_path / 'data'
    for src, subs in ((S.CMU, ['salsa', 'martial']), (S.BANDAI, S.BANDAI_ALL)):
        for d in subs:
            (root / src / d).mkdir(parents=True)
            (root / src / d / 'a.bvh').write_text('x')
    assert S.split_source('bandai_actions', str(tmp_path / 'o1'), str(root)) == str(root / S.BANDAI)
    links = S.split_source('cmu_to_bandai', str(tmp_path / 'o2'), str(root))
    names = sorted(os.listdir(links))
    assert names == sorted(['%s-salsa' % S.CMU, '%s-martial' % S.CMU] + ['%s-%s' % (S.BANDAI, d) for d in S.BANDAI_ALL])
    assert os.path.isfile(os.path.join(links, '%s-kick' % S.BANDAI, 'a.bvh'))
    for split in ('cmu_to_bandai', 'salsa_bandai_martial'):
        assert set(S.SPLITS[split].test) | set(S.SPLITS[split].train) == set(names)
    assert S.split_source('cmu_to_bandai', str(tmp_path / 'o2'), str(root)) == links      # again: same links
    with pytest.raises(UserError, match='not found'):
        S.split_source('cmu_to_bandai', str(tmp_path / 'o3'), str(tmp_path / 'nowhere'))


def test_pooled_ratios_by_hand():
    rec = lambda m, p: {'MPJPE': m, 'P-MPJPE': p, 'N-MPJPE': p, 'P-MPJPE_reflect': p}     # noqa: E731
    per_split = {'a': {'adv_continued': {0: rec(100, 80), 1: rec(110, 90)}, 'new': {0: rec(80, 76), 1: rec(99, 81)}},
                 'b': {'adv_continued': {0: rec(200, 50)}, 'new': {0: rec(150, 55), 3: rec(1, 1)}}}
    pooled = S.pooled_ratios(per_split, ['adv_continued', 'new'])
    d = pooled['new']['adv_continued']['MPJPE']
    assert d['n'] == 3 and d['pairs'] == [['a', 0, 0.8], ['a', 1, 0.9], ['b', 0, 0.75]]
    assert d['mean'] == pytest.approx((0.8 + 0.9 + 0.75) / 3) and d['max'] == pytest.approx(0.9)
    assert pooled['new']['adv_continued']['P-MPJPE']['max'] == pytest.approx(1.1)
    assert 'adv' not in pooled['new'] and 'adv_continued' not in pooled.get('adv_continued', {})
    text = S.format_pooled(pooled, 2)
    assert 'new' in text and '0.817 (0.900)' in text


def test_splits_run_each_split_in_its_folder_and_pool(tmp_path, monkeypatch, capsys):
    """--splits: each split's data prepared from its own source and test sub-folders into
    --out/<split>, trained and tabled there, then splits_table.txt pools the pairs."""
    from helpers import assert_one_error_line, run_inproc
    prepared = []

    def fake_prepare(src, out, test, fps):
        prepared.append((os.path.basename(out), os.path.basename(src), list(test), fps))
        return os.path.join(out, 'data')

    def fake_train(out, data, seed, variant, *args):
        path = accuracy.results_path(out, seed, variant)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        m = {'adv': 100.0, 'adv_continued': 100.0, 'recommended': 80.0}[variant] + seed
        res = {k: m for k in accuracy.METRICS}
        res['depth_flip_rate'] = 0.1
        json.dump(res, open(path, 'w'))
        return res
    monkeypatch.setattr(accuracy, 'prepare_bench_data', fake_prepare)
    monkeypatch.setattr(S, 'split_source', lambda name, out: os.path.join('/data', S.SPLITS[name].sources[0]))
    monkeypatch.setattr(accuracy, 'train_variant', fake_train)
    out = tmp_path / 'out'
    rc, printed, err = run_inproc(['--splits', 'dev', 'martial_salsa', '--seeds', '2', '--variants', 'recommended',
                                   '--out', out], capsys, 'tools/benchmark_accuracy.py')
    assert rc in (0, None), err
    assert prepared == [('salsa_martial', S.CMU, ['martial'], 50), ('martial_salsa', S.CMU, ['salsa'], 50)]
    for split in ('salsa_martial', 'martial_salsa'):
        assert (out / split / 'table.txt').is_file() and (out / split / 'seed1' / 'recommended').is_dir()
    pooled = json.load(open(out / 'splits.json'))['pooled']
    assert pooled['recommended']['adv_continued']['MPJPE']['n'] == 4
    assert pooled['recommended']['adv_continued']['MPJPE']['max'] == pytest.approx(81 / 101)
    assert '== split martial_salsa' in printed and 'paired ratios over all 2 splits' in printed
    assert ' 10.0%' in (out / 'salsa_martial' / 'table.txt').read_text()      # the depth-flip rate column
    # --no-train: the tables from what is finished; a missing variant is listed, never trained
    calls = []
    monkeypatch.setattr(accuracy, 'train_variant', lambda out, data, seed, v, *a: calls.append(v) or fake_train(out, data, seed, v))
    rc, printed, err = run_inproc(['--splits', 'dev', 'martial_salsa', 'bandai_actions', '--seeds', '3', '--variants',
                                   'recommended', '--no-train', '--out', out], capsys, 'tools/benchmark_accuracy.py')
    assert rc in (0, None), err
    assert 'recommended seed 2' in printed and 'bandai_actions: no finished run' in printed
    assert calls == ['adv', 'adv_continued', 'recommended'] * 4 and len(prepared) == 2 and not (out / 'bandai_actions').exists()
    rc, printed, err = run_inproc(['--splits', 'all', '--no-train', '--out', tmp_path / 'fresh'], capsys,
                                  'tools/benchmark_accuracy.py')
    assert rc in (0, None) and 'nothing to table' in printed and not (tmp_path / 'fresh').exists(), err
    rc, printed, err = run_inproc(['--no-train', '--out', tmp_path / 'fresh1'], capsys, 'tools/benchmark_accuracy.py')
    assert rc in (0, None) and 'nothing to table' in printed and not (tmp_path / 'fresh1').exists(), err
    rc, _, err = run_inproc(['--splits', 'dev', '--src', tmp_path, '--out', tmp_path / 'o2'], capsys,
                            'tools/benchmark_accuracy.py')
    assert_one_error_line(rc, err, '--splits names its own')
    assert not (tmp_path / 'o2').exists()


def test_every_variant_has_its_own_colour():
    from lib.bench.curves import variant_styles
    names = list(accuracy.VARIANTS) + ['extra%d' % i for i in range(60 - len(accuracy.VARIANTS))]
    styles = variant_styles(names)
    assert len(set(styles.values())) == len(names)
    assert styles['adv_continued'][0] != styles['recommended'][0]


def test_an_ema_variant_is_judged_by_its_ema(tmp_path):
    res = {'MPJPE': 150.0, 'MPJPE_oracle_scale': 120.0, 'N-MPJPE': 119.0, 'P-MPJPE': 90.0, 'P-MPJPE_reflect': 80.0,
           'depth_flip_rate': 0.2, 'ema': {'MPJPE': 140.0, 'MPJPE_oracle_scale': 118.0, 'N-MPJPE': 117.0,
                                           'P-MPJPE': 85.0, 'P-MPJPE_reflect': 79.0, 'depth_flip_rate': 0.1}}
    rec = accuracy.seed_record(str(tmp_path), 0, 'adv_continued_ema', res)
    assert rec['MPJPE'] == 140.0 and rec['P-MPJPE'] == 85.0 and rec['depth_flip_rate'] == 0.1
    assert rec['scale_error'] == 22.0
    assert accuracy.seed_record(str(tmp_path), 0, 'adv_continued', res)['P-MPJPE'] == 90.0
    assert accuracy.run_order(['adv_continued_ema', 'temp_d_continued']) == ['adv', 'adv_continued_ema', 'temp_d',
                                                                             'temp_d_continued']


def test_data_converted_for_another_split_is_refused(tmp_path):
    """A benchmark folder's data converted from another source, test sub-folders or frame rate
    is never reused for a run asked with other ones (its runs would train on the wrong motion)."""
    import numpy as np
    data = tmp_path / 'data'
    data.mkdir()
    meta = {'train_subjects': ['salsa'], 'test_subjects': ['martial'], 'fps': 50, 'source': 'BVH from mocap_bvh'}
    np.savez(data / 'data_3d_bench.npz', positions_3d={}, metadata=meta)
    (data / 'data_2d_bench_gt.npz').write_bytes(b'x')
    assert accuracy.prepare_bench_data('/any/mocap_bvh', str(tmp_path), ['martial'], 50) == str(data)
    for src, test, fps, needle in (('/any/mocap_bvh_bandai', ['martial'], 50, 'source'),
                                   ('/any/mocap_bvh', ['salsa'], 50, 'test_subjects'),
                                   ('/any/mocap_bvh', ['martial'], 30, 'fps 50 (asked: 30)')):
        with pytest.raises(UserError, match=re.escape(needle)):
            accuracy.prepare_bench_data(src, str(tmp_path), test, fps)


def test_another_src_without_test_subjects_is_one_line_before_any_work(tmp_path, capsys):
    from helpers import assert_one_error_line, run_inproc
    src = tmp_path / 'mocap'
    for d in ('kick', 'walk'):
        (src / d).mkdir(parents=True)
    rc, _, err = run_inproc(['--src', src, '--out', tmp_path / 'out'], capsys, 'tools/benchmark_accuracy.py')
    assert_one_error_line(rc, err, '--test-subjects', 'kick walk', '--splits')
    assert not (tmp_path / 'out').exists()
