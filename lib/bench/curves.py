"""Learning curves of the accuracy benchmark: one PNG, one panel per metric.

Each variant is drawn as the mean over its seeds with a band from the lowest to the highest
seed.  A warm-started variant continues where its source's curve ends (its epoch 1 is drawn
after the source's last epoch), so a two-stage recipe reads as one line of training.  The
curves are test-set numbers recorded every ``EVAL.CURVE_EVERY`` epochs: they show how long a
schedule needs, and nothing selects a model by them.
"""
import numpy as np

PANELS = (('MPJPE', 'MPJPE (mm)'), ('scale_error', 'scale error: MPJPE - MPJPE with GT scale (mm)'),
          ('N-MPJPE', 'N-MPJPE (mm)'), ('P-MPJPE', 'P-MPJPE (mm)'),
          ('P-MPJPE_reflect', 'P-MPJPE, reflection allowed (mm)'), ('depth_flip_rate', 'depth-flip rate (share of frames)'),
          ('scale_mean', 'mean predicted scale (1 without a scaler)'), ('scale_std', 'spread of the predicted scale (std)'))


def point_value(p, key):
    if key == 'scale_error':
        return p['MPJPE'] - p['MPJPE_oracle_scale']
    if key == 'scale_mean':
        return p.get('scale_mean', 1.0)
    if key == 'scale_std':
        return p.get('scale_std', 0.0)
    return p.get(key, np.nan)          # curves recorded before a metric existed: a gap


def variant_styles(names):
    """One (colour, line style) per variant, none shared: the 20 colours of tab20 (the dark and
    light shade of 10 hues), then the same colours dashed, then dotted (60 in all)."""
    import matplotlib
    cmap = matplotlib.colormaps['tab20']
    order = [2 * i for i in range(10)] + [2 * i + 1 for i in range(10)]     # dark shades first
    return {v: (cmap(order[i % 20]), ('-', '--', ':')[min(i // 20, 2)]) for i, v in enumerate(names)}


def curve_table(runs, key, offset=0):
    """{seed: record with 'curve'} -> (epochs, (seeds, epochs) values) on the epochs all seeds have."""
    curves = [r['curve'] for r in runs.values() if r.get('curve')]
    if not curves:
        return None, None
    epochs = sorted(set.intersection(*[{p['epoch'] for p in c} for c in curves]))
    vals = np.array([[point_value(next(p for p in c if p['epoch'] == e), key) for e in epochs] for c in curves])
    return np.array(epochs) + offset, vals


def last_epoch(runs):
    ends = [r['curve'][-1]['epoch'] for r in runs.values() if r.get('curve')]
    return max(ends) if ends else 0


def draw_curves(per_seed, warm_from, path):
    """``per_seed``: {variant: {seed: record with 'curve'}}; ``warm_from``: {variant: source or None}."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 4, figsize=(21, 9))
    styles = variant_styles(list(per_seed))
    for v, runs in per_seed.items():
        offset, src = 0, warm_from.get(v)
        while src:
            offset += last_epoch(per_seed.get(src, {}))
            src = warm_from.get(src)
        colour, line = styles[v]
        for ax, (key, title) in zip(axes.flat, PANELS):
            x, vals = curve_table(runs, key, offset)
            if x is None:
                continue
            ax.plot(x, vals.mean(0), line, marker='o', ms=3, color=colour, label='%s (%d seeds)' % (v, len(vals)))
            ax.fill_between(x, vals.min(0), vals.max(0), color=colour, alpha=0.15)
            ax.set_title(title, fontsize=10)
            ax.set_xlabel('epoch')
            ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle('test-set learning curves: mean over seeds, band = lowest to highest seed '
                 '(recorded only, never used to pick a model)', fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def criteria_table(per_seed, key='P-MPJPE'):
    """For every run whose curve carries the label-free criteria (EVAL.CRITERIA / SELECT_BY,
    lib/eval/criteria.py): the epoch each training-pose criterion would choose and the test
    ``key`` there, beside the last epoch's and the test curve's own minimum (which only the
    test labels can find: a reference, never a result).  None when no run has them."""
    from lib.eval.criteria import CRITERIA  # loads torch

    def at(p):
        return '%6.1f (%2d)' % (p[key], p['epoch'])
    rows = []
    for v, runs in per_seed.items():
        for seed, r in sorted(runs.items()):
            curve = [p for p in r.get('curve') or () if 'crit_train_' + CRITERIA[0] in p]
            if not curve:
                continue
            cells = [at(min(curve, key=lambda p: p['crit_train_' + c])) for c in CRITERIA]
            rows.append('%-22s %4s  %11s  %s  %11s' % (v, seed, at(curve[-1]), '  '.join(cells),
                                                       at(min(curve, key=lambda p: p[key]))))
    if not rows:
        return None
    head = '%-22s %4s  %11s  %s  %11s' % ('variant', 'seed', 'last epoch', '  '.join('%11s' % c for c in CRITERIA),
                                          'test min')
    return '\n'.join(['test %s (mm) at the epoch (in brackets) that each label-free criterion of the training 2D '
                      'poses would choose (lib/eval/criteria.py), at the last epoch, and at the test curve\'s own '
                      'minimum (found with the test labels: a reference only)' % key, head] + rows)
