"""Accuracy benchmark on real motion capture: variants x seeds, final models, paired differences.

A *variant* is a config in ``cfg/`` plus ``--opts`` overrides, optionally warm-started from
another variant's final checkpoint of the same seed.  Each run is ``tools/main.py`` in a
subprocess (the same code path a user runs), and its *final* model is evaluated on the test
subjects: the best-during-training checkpoint selects on the test set and is not used.

The summary per variant holds the mean over seeds, the spread (std with ddof 0, min, max) and
the paired differences to ``adv`` and to ``adv_continued`` (equal lifter training) on the seeds
both have.  Scale and structure are kept apart in every table: the *scale error* is MPJPE minus
the MPJPE with ground-truth scale (``MPJPE_oracle_scale``); structure is N-MPJPE and P-MPJPE.
With ``EVAL.CURVE_EVERY`` the runs also record learning curves (``curve.json``), which
:mod:`lib.bench.curves` draws; they are recorded only, never used to pick a model.
"""
import json
import os
import subprocess
import sys
import time

import numpy as np

from lib.bench.curves import criteria_table, draw_curves
from lib.train.run import SELECTED
from lib.utils.errors import UserError
from lib.utils.runtime import REPO_ROOT
from lib.utils.safe_io import load_npz

METRICS = ('MPJPE', 'N-MPJPE', 'P-MPJPE', 'MPJPE_oracle_scale', 'scale_error', 'P-MPJPE_reflect', 'depth_flip_rate')
RATIO_METRICS = ('MPJPE', 'N-MPJPE', 'P-MPJPE', 'MPJPE_oracle_scale', 'P-MPJPE_reflect')
SCALES = ('scale_mean', 'scale_std', 'scale_true_mean')      # predicted (1 without a scaler) and called for
EXTRA = ('P-MPJPE_reflect', 'depth_flip_rate')
REFERENCES = ('adv', 'adv_continued')
PRIOR = ['DATA.SCALE_MID_MEAN', 'auto', 'DATA.SCALE_MID_STD', 'auto']     # the data's own scale prior

# bench_adv.yaml / bench_best.yaml train this many epochs (kept equal: equal compute)
BENCH_EPOCHS = 16
# bench_best.yaml turned into adv + the temporal discriminator (no scaler, no alternation, no TMC)
TEMP_D = ['TRAIN.USE_SCALER', 'false', 'TRAIN.USE_CYCLE', 'false', 'TRAIN.USE_NEW_TEMP', 'false', 'TRAIN.USE_TEMP', 'true']


def _variant(cfg, opts=(), warm_from=None, about='', continue_from=None, metrics_of=None):
    """``warm_from``: start from that variant's final weights (--pretrain); ``continue_from``:
    resume that variant's finished run (same config, more epochs: --resume, which continues
    exactly as one uninterrupted run would), so its epochs are not trained twice.
    ``metrics_of='ema'``: the variant is judged by the EMA of its weights (``TRAIN.EMA_DECAY``);
    ``'selected'``: by the checkpoint its label-free criterion chose (``EVAL.SELECT_BY``), which is
    also what a variant warm-started from it starts from."""
    return {'cfg': cfg, 'opts': list(opts), 'warm_from': warm_from, 'about': about,
            'continue_from': continue_from, 'metrics_of': metrics_of}


VARIANTS = {
    # the authors' recipes, scaled for 2 CPU cores (see the headers of the bench configs)
    'adv': _variant('bench_adv.yaml', about="authors' h36m_gt_adv, from scratch"),
    'best': _variant('bench_best.yaml', about="authors' h36m_gt_scale, from scratch"),
    'supervised': _variant('bench_supervised.yaml', about='same lifter, L2 on 3D labels: a ceiling'),
    # best with one fix of the COMPAT table turned on
    'best_bone_lengths': _variant('bench_best.yaml', ['COMPAT.BONE_LOSS', 'lengths'],
                                  about='bone loss on lengths, not vectors'),
    'best_alternation_fixed': _variant('bench_best.yaml', ['COMPAT.ALTERNATE_OFF_BY_ONE', 'false'],
                                       about='lifter trained in every mainnet step'),
    'best_tmc_fixed': _variant('bench_best.yaml', ['COMPAT.TMC_FRAME', 'rotate_motion'],
                               about='TMC compares motions in one frame'),
    'best_inverse_fixed': _variant('bench_best.yaml', ['COMPAT.INVERSE_ROT_TILTED_AXIS', 'true'],
                                   about='exact inverse rotation (a no-op with USE_NEW_ROT false)'),
    # the authors' rotation axis (about the camera's y axis), which the bench configs change
    'adv_authors_rot': _variant('bench_adv.yaml', ['TRAIN.USE_NEW_ROT', 'false'],
                                about="adv with the authors' USE_NEW_ROT false"),
    'best_authors_rot': _variant('bench_best.yaml', ['TRAIN.USE_NEW_ROT', 'false'],
                                 about="best with the authors' USE_NEW_ROT false"),
    # the earlier warm-start recipe, and adv trained as many steps as it (equal compute)
    'best_warm': _variant('bench_best.yaml', warm_from='adv', about='best warm-started from adv'),
    'adv_continued': _variant('bench_adv.yaml', ['TRAIN.NUM_EPOCHS', str(2 * BENCH_EPOCHS)], continue_from='adv',
                              about='adv for as many steps as adv + best_warm (adv resumed to 32 epochs)'),
    # the paper's ablation (its Table 4) over the parts of best, each with the data's own prior
    'full': _variant('bench_best.yaml', PRIOR, about="best (scaler + KL-bone + TMC, alternating), the data's prior"),
    'full_joint': _variant('bench_best.yaml', PRIOR + ['TRAIN.USE_CYCLE', 'false'],
                           about='the full recipe, joint scheme (all losses every step) instead of alternating'),
    'scaler_only': _variant('bench_best.yaml', PRIOR + ['TRAIN.USE_NEW_TEMP', 'false',
                                                        'TRAIN.SCALE_LOSS_WEIGHTS', '[0.0, 0.0]'],
                            about='scaler, no KL, no bone, no TMC'),
    'scaler_kl': _variant('bench_best.yaml', PRIOR + ['TRAIN.USE_NEW_TEMP', 'false',
                                                      'TRAIN.SCALE_LOSS_WEIGHTS', '[0.001, 0.0]'],
                          about='scaler + KL, no bone, no TMC'),
    'scaler_klbone': _variant('bench_best.yaml', PRIOR + ['TRAIN.USE_NEW_TEMP', 'false'],
                              about='scaler + KL-bone, no TMC'),
    'tmc': _variant('bench_best.yaml', ['TRAIN.USE_SCALER', 'false', 'TRAIN.USE_CYCLE', 'false',
                                        'COMPAT.TMC_FRAME', 'magnitude_first3'], about='TMC alone (adv + TMC)'),
    'temp_d': _variant('bench_best.yaml', TEMP_D, about='temporal discriminator alone (adv + temporal D)'),
    # structure candidates at equal compute to adv_continued (docs/STRUCTURE_STUDY.md)
    'temp_d_continued': _variant('bench_best.yaml', TEMP_D + ['TRAIN.NUM_EPOCHS', str(2 * BENCH_EPOCHS)],
                                 continue_from='temp_d', about='temporal discriminator alone, resumed to 32 epochs'),
    'temp_d_continued_prop': _variant('bench_best.yaml', TEMP_D + ['TRAIN.NUM_EPOCHS', str(2 * BENCH_EPOCHS),
                                                                   'TRAIN.PROPORTION_WEIGHT', '10'],
                                      continue_from='temp_d', about='temp_d resumed to 32 epochs with the '
                                                                    'bone-proportion term on from epoch 17'),
    'adv_continued_ema': _variant('bench_adv.yaml', ['TRAIN.NUM_EPOCHS', str(2 * BENCH_EPOCHS), 'TRAIN.EMA_DECAY', '0.995'],
                                  continue_from='adv', metrics_of='ema',
                                  about='adv resumed to 32 epochs with an EMA of the weights (decay 0.995, '
                                        'about 2.6 epochs) from epoch 17; judged by the EMA'),
    # adv for adv_continued's 32 epochs, judged by the epoch that a label-free criterion of the training
    # 2D poses chooses (lib/eval/criteria.py), not by the last one; every criterion is recorded per epoch
    'adv_selected': _variant('bench_adv.yaml', ['TRAIN.NUM_EPOCHS', str(2 * BENCH_EPOCHS), 'EVAL.CURVE_EVERY', '1',
                                                'EVAL.SELECT_BY', 'train_bone_spread'], metrics_of='selected',
                             about="adv trained 32 epochs, the epoch with the steadiest bone proportions of the "
                                   "training 2D poses' lifts (no labels)"),
    'recommended_selected': _variant('bench_scale_after.yaml', warm_from='adv_selected',
                                     about='scale after structure on the lifter adv_selected chose'),
    # this project's recipe (README, "The recommended recipe"): adv_continued's lifter, frozen,
    # then the scaler alone (KL with the data's prior + bone), its scale on the lifted 3D
    'recommended': _variant('bench_scale_after.yaml', warm_from='adv_continued',
                            about='scale after structure: the scaler alone on the frozen adv_continued lifter'),
    'scale_after_input': _variant('bench_scale_after.yaml', ['TRAIN.SCALE_ON_3D', 'false'], warm_from='adv_continued',
                                  about='recommended with the scale on the lifter\'s 2D input (as the paper)'),
    'scale_after_h36m_prior': _variant('bench_scale_after.yaml', ['DATA.SCALE_MID_MEAN', '0.720643',
                                                                  'DATA.SCALE_MID_STD', '0.058'],
                                       warm_from='adv_continued', about="recommended with Human3.6M's prior"),
    # structure candidates: adv plus one new training term each, from scratch (16 epochs, against adv) and
    # as adv's second half (adv resumed to 32 epochs with the term on: adv_continued's compute, paired with it)
    'sym': _variant('bench_sym.yaml', about='adv + left/right bone-length symmetry of the lift (scale-free)'),
    'flow': _variant('bench_flow.yaml', about="adv + a normalizing flow's NLL of the rotated projections"),
    'flow_no_d': _variant('bench_flow.yaml', ['TRAIN.USE_DIS', 'false'],
                          about='the flow prior instead of the discriminator (as ElePose)'),
    'elev': _variant('bench_elev.yaml', about="adv, the rotations' elevation drawn from the lifts' own distribution"),
    'adv_continued_sym': _variant('bench_sym.yaml', ['TRAIN.NUM_EPOCHS', str(2 * BENCH_EPOCHS)], continue_from='adv',
                                  about='adv resumed to 32 epochs with the symmetry term on from epoch 17'),
    'adv_continued_flow': _variant('bench_flow.yaml', ['TRAIN.NUM_EPOCHS', str(2 * BENCH_EPOCHS)], continue_from='adv',
                                   about='adv resumed to 32 epochs with the flow prior beside D from epoch 17 '
                                         '(its fit counted)'),
    'adv_continued_flow_no_d': _variant('bench_flow.yaml', ['TRAIN.NUM_EPOCHS', str(2 * BENCH_EPOCHS),
                                                            'TRAIN.USE_DIS', 'false'], continue_from='adv',
                                        about='adv resumed to 32 epochs with the flow prior instead of D'),
    'adv_continued_prop': _variant('bench_prop.yaml', ['TRAIN.NUM_EPOCHS', str(2 * BENCH_EPOCHS)], continue_from='adv',
                                   about='adv resumed to 32 epochs with the bone-proportion term on from epoch 17'),
    # the weights the dev split chose among (cfg/bench_prop.yaml's header)
    **{'adv_continued_prop_w%s' % name: _variant('bench_prop.yaml', ['TRAIN.NUM_EPOCHS', str(2 * BENCH_EPOCHS),
                                                                     'TRAIN.PROPORTION_WEIGHT', w], continue_from='adv',
                                                 about='adv_continued_prop with weight %s (the dev split\'s '
                                                       'weight choice)' % w)
       for name, w in (('01', '0.1'), ('1', '1'), ('10', '10'), ('100', '100'))},
    'adv_continued_elev': _variant('bench_elev.yaml', ['TRAIN.NUM_EPOCHS', str(2 * BENCH_EPOCHS)], continue_from='adv',
                                   about="adv resumed to 32 epochs, the rotations' elevation learned from epoch 17"),
    'adv_continued_sym_flow': _variant('bench_sym_flow.yaml', ['TRAIN.NUM_EPOCHS', str(2 * BENCH_EPOCHS)],
                                       continue_from='adv', about='adv resumed to 32 epochs with the symmetry '
                                                                  'term and the flow prior from epoch 17'),
    # "scale after structure" on each candidate's lifter: the recommended recipe with that stage 1
    **{'recommended_' + c: _variant('bench_scale_after.yaml', warm_from='adv_continued_' + c,
                                    about='scale after structure on the frozen adv_continued_%s lifter' % c)
       for c in ('sym', 'flow', 'flow_no_d', 'elev', 'sym_flow', 'prop')},
    'recommended_temp_d_prop': _variant('bench_scale_after.yaml', warm_from='temp_d_continued_prop',
                                        about='scale after structure on the frozen temp_d_continued_prop lifter'),
}
DEFAULT_VARIANTS = ['adv', 'best', 'supervised']


def aggregate(per_seed, references=REFERENCES):
    """{variant: {seed: {metric: value}}} -> {variant: {metric: mean, 'spread': ...,
    'paired_vs_<ref>': ...}} for every reference variant present (not for itself)."""
    out = {}
    for v, runs in per_seed.items():
        seeds = sorted(runs)
        entry = {'seeds': seeds}
        for m in METRICS + SCALES + ('seconds', 'seconds_total'):
            vals = np.array([runs[s][m] for s in seeds if m in runs[s]], float)
            if len(vals) == 0:
                continue
            entry[m] = float(vals.mean())
            entry.setdefault('spread', {})[m] = {'std': float(vals.std()), 'min': float(vals.min()),
                                                 'max': float(vals.max())}
        for ref in references:
            common = [s for s in seeds if s in per_seed.get(ref, {})] if v != ref else []
            if not common:
                continue
            entry['paired_vs_%s' % ref] = {}
            for m in [m for m in METRICS if all(m in runs[s] and m in per_seed[ref][s] for s in common)]:
                d = np.array([runs[s][m] - per_seed[ref][s][m] for s in common])
                entry['paired_vs_%s' % ref][m] = {'mean': float(d.mean()), 'min': float(d.min()),
                                                  'max': float(d.max()), 'n': len(common)}
                if m in RATIO_METRICS:      # errors in mm; a scale error or a flip rate can be 0
                    r = np.array([runs[s][m] / per_seed[ref][s][m] for s in common])
                    entry['paired_vs_%s' % ref][m].update(ratio_mean=float(r.mean()), ratio_max=float(r.max()))
        out[v] = entry
    return out


def format_summary(summary):
    """The printed table: mean (min-max) of MPJPE, scale error, N-MPJPE and P-MPJPE; the mean
    predicted scale against the one the test frames call for; the paired MPJPE and P-MPJPE
    ratios to adv and adv_continued (mean, worst seed); wall time with the warm start's."""
    head = '%-24s %-19s %-17s %-19s %-19s %-13s %-11s %-21s %-21s %6s' % (
        'variant', 'MPJPE mean (min-max)', 'scale err (max)', 'N-MPJPE', 'P-MPJPE', 'P refl, flip', 'scale/true',
        'MPJPE, P-MPJPE / adv', '/ adv_continued', 'min')
    lines = [head]
    for v, e in summary.items():
        def cell(m):
            return '%6.1f (%5.1f-%5.1f)' % (e[m], e['spread'][m]['min'], e['spread'][m]['max'])

        def ratio(ref):
            d = e.get('paired_vs_%s' % ref)
            if not d:
                return '-'
            return '%.3f, %.3f (max %.2f, %.2f)' % (d['MPJPE']['ratio_mean'], d['P-MPJPE']['ratio_mean'],
                                                   d['MPJPE']['ratio_max'], d['P-MPJPE']['ratio_max'])
        scale = '%.2f/%.2f' % (e.get('scale_mean', 1.0), e['scale_true_mean']) if 'scale_true_mean' in e else '-'
        ambiguity = ('%5.1f, %4.1f%%' % (e['P-MPJPE_reflect'], 100 * e['depth_flip_rate'])
                     if 'depth_flip_rate' in e else '-')
        lines.append('%-24s %-19s %5.1f (%5.1f)     %-19s %-19s %-13s %-11s %-21s %-21s %6.1f' % (
            v, cell('MPJPE'), e['scale_error'], e['spread']['scale_error']['max'], cell('N-MPJPE'),
            cell('P-MPJPE'), ambiguity, scale, ratio('adv'), ratio('adv_continued'),
            e.get('seconds_total', e.get('seconds', float('nan'))) / 60))
    lines.append('scale err = MPJPE - MPJPE with ground-truth scale (mm); structure = N-MPJPE, P-MPJPE; '
                 'P refl, flip = P-MPJPE with reflection allowed (ElePose/LInKs protocol) and the share of '
                 'frames whose best rigid fit is a mirror image; '
                 'scale/true = mean predicted scale (1 without a scaler) / the mean the test frames call for; '
                 'ratios: paired per seed, mean (worst seed); min = wall minutes with the warm start\'s')
    return '\n'.join(lines)


def _run(cmd, log_path, threads=0):
    env = dict(os.environ)
    if threads:
        env['OMP_NUM_THREADS'] = env['MKL_NUM_THREADS'] = str(threads)
    with open(log_path, 'w') as log:
        r = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env)
    if r.returncode != 0:
        tail = open(log_path).read().strip().splitlines()[-1:] or ['?']
        raise UserError('a benchmark run failed (%s)' % tail[0], log_path, 'see the log')


def variants_text():
    """The variants, one line each: name, config, overrides, warm start and what it is."""
    wn, wc = max(map(len, VARIANTS)), max(len(v['cfg']) for v in VARIANTS.values())
    return '\n'.join('%-*s %-*s %-45s %s' % (wn, name, wc, v['cfg'], ' '.join(v['opts']) or '-',
                                              ('warm from %s; ' % v['warm_from'] if v['warm_from'] else '')
                                              + v['about']) for name, v in VARIANTS.items())


def prepare_bench_data(src, out, test_subjects, fps=50):
    """Convert the BVH collection ``src`` into ``out/data`` (``data_{3d,2d}_bench*.npz``) with
    ``tools/prepare_data.py bvh`` unless it is there; returns the data folder.  ``out``: an
    absolute path (the conversion runs in the repository root)."""
    data = os.path.join(out, 'data')
    have_data = os.path.isfile(os.path.join(data, 'data_2d_bench_gt.npz'))
    if have_data:
        check_bench_data(data, src, test_subjects, fps)
    elif not os.path.isdir(src):
        raise UserError('BVH source folder not found', src, 'pass --src with one sub-folder of .bvh files per subject')
    os.makedirs(out, exist_ok=True)
    if not have_data:
        print('preparing %s -> %s' % (src, data), flush=True)
        _run([sys.executable, 'tools/prepare_data.py', 'bvh', '--src', os.path.abspath(src), '--out', data,
              '--name', 'bench', '--fps', str(fps), '--test-subjects'] + list(test_subjects),
             os.path.join(out, 'prepare.log'))
    return data


def check_bench_data(data, src, test_subjects, fps):
    """The data already converted in ``data`` must be the one asked for: the same source folder
    (by name), test sub-folders and frame rate, else every run in that folder would train and
    test on another collection.  A mismatch is a UserError (nothing is converted over it)."""
    path = os.path.join(data, 'data_3d_bench.npz')
    meta = load_npz(path, '3D archive', 'remove the benchmark\'s data folder to convert it again').get('metadata')
    meta = meta if isinstance(meta, dict) else {}
    want = {'source': 'BVH from %s' % os.path.basename(os.path.normpath(src)),
            'test_subjects': sorted(test_subjects), 'fps': fps}
    have = {'source': meta.get('source'), 'test_subjects': sorted(meta.get('test_subjects') or []),
            'fps': meta.get('fps')}
    diff = ['%s %s (asked: %s)' % (k, have[k], want[k]) for k in want if have[k] != want[k]]
    if diff:
        raise UserError('the benchmark data here was converted with %s' % '; '.join(diff), data,
                        'use another --out for this collection or split (or remove that data folder)')


def results_path(out, seed, variant):
    stem = os.path.splitext(VARIANTS[variant]['cfg'])[0]
    return os.path.join(out, 'seed%d' % seed, variant, stem, 'results.json')


def train_variant(out, data, seed, variant, gpu='-1', threads=0, extra_opts=()):
    """Train and evaluate one (seed, variant) unless its results.json exists; return the results."""
    spec = VARIANTS[variant]
    res_path = results_path(out, seed, variant)
    if not os.path.isfile(res_path):
        run_dir = os.path.join(out, 'seed%d' % seed, variant)
        # --force: a run without results.json (an interrupted one) is trained again from scratch
        cmd = [sys.executable, 'tools/main.py', '--cfg', os.path.join('cfg', spec['cfg']), '--gpu', gpu,
               '--quiet', '--force', '--data_dir', data, '--model_dir', run_dir, '--log_dir', os.path.join(out, 'log')]
        if spec['warm_from']:
            warm = os.path.join(os.path.dirname(results_path(out, seed, spec['warm_from'])),
                                SELECTED if VARIANTS[spec['warm_from']]['metrics_of'] == 'selected'
                                else 'checkpoint.pth.tar')
            cmd += ['--pretrain', warm]
        cmd += ['--opts', 'RANDOM_SEED', str(2019 + seed)] + spec['opts'] + list(extra_opts)
        print('seed %d: training %s' % (seed, variant), flush=True)
        os.makedirs(run_dir, exist_ok=True)
        if spec['continue_from']:
            cmd[cmd.index('--opts'):cmd.index('--opts')] = ['--resume', _continue_from(out, seed, variant)]
        t0 = time.time()
        _run(cmd, os.path.join(run_dir, 'run.log'), threads)
        res = json.load(open(res_path))
        res['seconds'] = time.time() - t0
        if spec['continue_from']:
            res['continued_from'] = spec['continue_from']
        with open(res_path, 'w') as f:
            json.dump(res, f, indent=2)
    return json.load(open(res_path))


def _continue_from(out, seed, variant):
    """Copy the finished run of ``continue_from`` (checkpoint and curve) into this variant's
    run folder, to be resumed there; returns the checkpoint path."""
    import shutil
    src = os.path.dirname(results_path(out, seed, VARIANTS[variant]['continue_from']))
    dst = os.path.dirname(results_path(out, seed, variant))
    os.makedirs(dst, exist_ok=True)
    for name in ('checkpoint.pth.tar', 'curve.json'):
        if os.path.isfile(os.path.join(src, name)):
            shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))
    return os.path.join(dst, 'checkpoint.pth.tar')


def source_of(variant):
    """The variant whose run this one starts from (warm start or resumed), or None."""
    return VARIANTS[variant]['warm_from'] or VARIANTS[variant]['continue_from']


def run_order(variants):
    """Variants in training order: a warm start's source first (added when not asked for)."""
    order = []

    def add(v):
        src = source_of(v)
        if src and src not in order:
            add(src)
        if v not in order:
            order.append(v)
    for v in variants:
        add(v)
    return order


def seed_record(out, seed, variant, res):
    """The numbers of one finished run that the summary uses, with its learning curve."""
    if VARIANTS[variant].get('metrics_of') == 'ema':
        res = dict(res, **res['ema'])
    rec = {}
    if VARIANTS[variant].get('metrics_of') == 'selected':
        rec['selected_epoch'] = res['selected']['epoch']
        res = dict(res, **{k: v for k, v in res['selected'].items() if k in METRICS + SCALES})
    rec.update({m: res[m] for m in METRICS[:4]})
    rec['scale_error'] = res['MPJPE'] - res['MPJPE_oracle_scale']
    rec.update({m: res[m] for m in EXTRA if m in res})
    rec.update({m: res[m] for m in SCALES if m in res})
    rec['seconds'] = res.get('seconds', float('nan'))
    rec['seconds_total'] = rec['seconds']
    v, r = variant, res
    while True:                     # the warm start's (or the resumed run's) own training counts too
        src = VARIANTS[v]['warm_from'] or r.get('continued_from')
        path = results_path(out, seed, src) if src else ''
        if not os.path.isfile(path):
            break
        v, r = src, json.load(open(path))
        rec['seconds_total'] += r.get('seconds', float('nan'))
    curve = os.path.join(os.path.dirname(results_path(out, seed, variant)), 'curve.json')
    if os.path.isfile(curve):
        rec['curve'] = json.load(open(curve))
    return rec


def run_all(out, data, seeds, variants, gpu='-1', threads=0, extra_opts=(), train=True, say=print):
    """Train every (seed, variant) not yet finished in ``out``; return {variant: {seed: record}}
    for the variants in training order (a warm start's source included).  ``train=False``: only
    read the finished runs, and say which are missing."""
    order = run_order(variants)
    per_seed = {v: {} for v in order}
    missing = []
    for seed in seeds:
        for v in order:
            if not train and not os.path.isfile(results_path(out, seed, v)):
                missing.append('%s seed %d' % (v, seed))
                continue
            res = train_variant(out, data, seed, v, gpu, threads, extra_opts)
            per_seed[v][seed] = seed_record(out, seed, v, res)
    if missing:
        say('not finished in %s (left out of the table): %s' % (out, ', '.join(missing)))
    return {v: runs for v, runs in per_seed.items() if runs}


def write_tables(out, per_seed, command=''):
    """Write benchmark.json, table.txt and (with learning curves) curves.png into ``out``;
    return the table."""
    order = list(per_seed)
    summary = aggregate(per_seed)
    table = format_summary(summary)
    bench = {v: {m: summary[v][m] for m in METRICS + SCALES + ('seconds', 'seconds_total') if m in summary[v]}
             for v in summary}
    bench['per_seed'] = {v: {str(s): r for s, r in runs.items()} for v, runs in per_seed.items()}
    bench['spread'] = {v: summary[v]['spread'] for v in summary}
    for ref in REFERENCES:
        bench['paired_vs_%s' % ref] = {v: summary[v]['paired_vs_%s' % ref] for v in summary
                                       if 'paired_vs_%s' % ref in summary[v]}
    bench['variants'] = {v: VARIANTS[v] for v in order}
    bench['command'] = command
    with open(os.path.join(out, 'benchmark.json'), 'w') as f:
        json.dump(bench, f, indent=2)
    with open(os.path.join(out, 'table.txt'), 'w') as f:
        f.write(table + '\n')
    if any('curve' in r for runs in per_seed.values() for r in runs.values()):
        draw_curves(per_seed, {v: VARIANTS[v]['warm_from'] for v in order}, os.path.join(out, 'curves.png'))
    crit = criteria_table(per_seed)
    if crit:
        with open(os.path.join(out, 'criteria.txt'), 'w') as f:
            f.write(crit + '\n')
    return table


def benchmark(out, data, seeds, variants, gpu='-1', threads=0, extra_opts=(), command=''):
    """Train every (seed, variant), then write benchmark.json, table.txt and (with learning
    curves) curves.png into ``out``.

    ``seeds``: the seed ids to train (e.g. ``range(3)``).  Finished runs are kept in
    ``out``, so several processes given disjoint seed lists can share the cores, and a last
    call over all seeds only reads their results and writes the table.
    """
    return write_tables(out, run_all(out, data, seeds, variants, gpu, threads, extra_opts), command)
