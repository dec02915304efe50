"""Lift the Leeds Sports Pose annotations to 3D and draw every result.

    python tools/eval_lsp.py --cfg cfg/h36m_gt_scale.yaml --pretrain models/tmc_klbone.pth.tar
    cd tools && python eval_lsp.py --cfg ../cfg/h36m_gt_scale.yaml --pretrain ../models/tmc_klbone.pth.tar --limit 50

There is no 3D ground truth for LSP: this is a qualitative check of how a
model trained on Human3.6M generalises to in-the-wild poses (ORIGINAL_CODE.md
7.2).  ``--lsp-root`` is a folder with ``joints.mat`` and ``images/``; it
defaults to ``<repo>/data/lsp`` when that exists, else to the 400-image sample
``<repo>/../shared/data/lsp_sample``.  Both joints.mat layouts (LSP and LSP
extended) are read; see ``lib/data/lsp.py`` for the visibility flags, the
missing-joint policy (skip an image without both hips, both shoulders and the
head top; fill and flag other missing joints) and the normalisation
(isotropic by default, the original's x/55, y/90 with COMPAT.LSP_ANISOTROPIC).

Writes into ``--out`` (default ``<repo>/vis/lsp``), atomically:

* ``<stem>.png``: the image with its 2D skeleton beside the 3D lift (two views),
* ``<stem>.json``: the 3D joints (ours and v3d order), the scale, the filled joints,
* ``index.html``: thumbnails linking to the figures, then the skipped and
  failed images with their reasons,
* ``contact_sheet.png``: the first ``--sheet`` figures tiled.

Exit status: 0; 2 for bad input (a bad option, config, checkpoint or
joints.mat; or any image that failed: missing or unreadable).
"""
import _init_paths  # noqa: F401
import argparse
import html
import os
import sys

import numpy as np
from tqdm import tqdm

from lib.core.config import get_default, update_config
from lib.data import skeleton as sk
from lib.data.demo_io import UNITS, json_text
from lib.data.lsp import LSP_NAMES, load_lsp, read_image
from lib.utils.errors import UserError, run_main
from lib.utils.model_choice import choose_model
from lib.utils.runtime import REPO_ROOT, apply_threads, cli_path, one_line_warnings
from lib.utils.safe_io import atomic_write, check_writable_dir

def default_lsp_root():
    own = os.path.join(REPO_ROOT, 'data', 'lsp')
    if os.path.isdir(own):
        return own
    return os.path.normpath(os.path.join(REPO_ROOT, '..', 'shared', 'data', 'lsp_sample'))


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--cfg', help='YAML config the model was trained with (needed with --pretrain)')
    p.add_argument('--pretrain', help='checkpoint; default: the authors\' models/tmc_klbone.pth.tar, else '
                   'the quick start\'s output/quickstart/model_best.pth.tar, else the shipped '
                   'scripts/demo_model/quickstart.pth.tar (lib/utils/model_choice.py)')
    p.add_argument('--lsp-root', help='folder with joints.mat and images/ (default %s)'
                   % os.path.relpath(default_lsp_root(), REPO_ROOT))
    p.add_argument('--out', default=os.path.join(REPO_ROOT, 'vis', 'lsp'),
                   help='output folder (default <repo>/vis/lsp)')
    p.add_argument('--gpu', default='-1', help='CUDA device index; -1 = CPU (default)')
    p.add_argument('--threads', type=int, metavar='N',
                   help='CPU threads (default: THREADS in the config, else $OMP_NUM_THREADS, else 1)')
    p.add_argument('--limit', type=int, help='only the first N images of joints.mat')
    p.add_argument('--batch-size', type=int, default=256, help='poses per forward pass')
    p.add_argument('--sheet', type=int, default=48, help='figures on contact_sheet.png (default 48)')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        raise UserError('--limit must be at least 1, got %d' % args.limit, '--limit', 'omit it for all images')
    if args.batch_size < 1:
        raise UserError('--batch-size must be at least 1', '--batch-size', 'use e.g. 256')
    return args


def image_record(im, data, pose, scale):
    """The json written beside each figure."""
    filled = [int(j) for j in np.where(im.missing)[0]]
    return {
        'image': im.name,
        'lsp_number': im.number,
        'layout': data.layout,
        'units': UNITS,
        'normalisation': {'mode': 'anisotropic x/55, y/90 (COMPAT.LSP_ANISOTROPIC)' if data.anisotropic
                          else 'isotropic', 'factor': data.factor},
        'scale': None if scale is None else float(scale),
        'joint_names_ours': sk.OURS_NAMES,
        'joints_3d_ours': np.round(pose, 6).tolist(),
        'joint_names_v3d': sk.V3D_NAMES,
        'joints_3d_v3d': np.round(sk.ours_to_v3d(pose), 6).tolist(),
        'joints_2d_px_ours': np.round(im.px_ours, 3).tolist(),
        'filled_joints_ours': filled,
        'filled_joint_names': [sk.OURS_NAMES[j] for j in filled],
        'lsp_annotation': {'names': LSP_NAMES, 'x_y_flag': np.round(im.joints14, 4).tolist()},
    }


def write_json(obj, path):
    with atomic_write(path, 'w') as f:
        f.write(json_text(obj))


def write_index(path, data, done, sheet_name):
    """index.html: a thumbnail grid of the lifted images, then the skipped and failed ones."""
    e = html.escape
    rows = []
    for im in done:
        note = (' &middot; filled: %s' % e(', '.join(sk.OURS_NAMES[j] for j in np.where(im.missing)[0]))
                if im.missing.any() else '')
        rows.append('<figure><a href="{s}.png"><img src="{s}.png" loading="lazy" alt="{s}"></a>'
                    '<figcaption>{n} &middot; <a href="{s}.json">json</a>{note}</figcaption></figure>'
                    .format(s=e(im.stem), n=e(im.name), note=note))

    def table(status):
        items = [im for im in data.images if im.status == status]
        if not items:
            return '<p>none</p>'
        body = ''.join('<tr><td>%s</td><td>%s</td></tr>' % (e(im.name), e(im.reason)) for im in items)
        return '<table><tr><th>image</th><th>reason</th></tr>%s</table>' % body

    mode = 'anisotropic x/55, y/90' if data.anisotropic else 'isotropic'
    page = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>LSP lifted to 3D</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 10px; }}
figure {{ margin: 0; width: 520px; }}
figure img {{ width: 520px; border: 1px solid #ccc; }}
figcaption {{ font-size: 12px; color: #333; }}
table {{ border-collapse: collapse; font-size: 13px; }}
td, th {{ border: 1px solid #ccc; padding: 2px 6px; text-align: left; }}
</style></head><body>
<h1>LSP lifted to 3D</h1>
<p>{root} ({layout} layout, {mode} normalisation): lifted {n_ok}, skipped {n_skip}, failed {n_fail}.
Colours: right limbs vermillion, left limbs blue, torso green; grey dashed joints were not annotated
and were filled in (lib/data/lsp.py). {sheet}</p>
<h2>Lifted</h2>
<div class="grid">
{rows}
</div>
<h2>Skipped</h2>
{skipped}
<h2>Failed</h2>
{failed}
</body></html>
""".format(root=e(data.root), layout=e(data.layout), mode=mode, n_ok=len(done),
           n_skip=data.count('skipped'), n_fail=data.count('failed'), rows='\n'.join(rows) or '<p>none</p>',
           skipped=table('skipped'), failed=table('failed'),
           sheet=('Overview: <a href="%s">%s</a>.' % (sheet_name, sheet_name)) if sheet_name else '')
    with atomic_write(path, 'w') as f:
        f.write(page)


def main(argv=None):
    args = parse_args(argv)
    out_dir = cli_path(args.out)
    check_writable_dir(out_dir, 'output folder (--out)')
    note = lambda m: print(m, file=sys.stderr)     # noqa: E731
    one_line_warnings()
    ckpt, cfg_file, _ = choose_model(cli_path(args.pretrain), cli_path(args.cfg), log=print)
    cfg = get_default()
    update_config(cfg, cfg_file)
    root = cli_path(args.lsp_root) if args.lsp_root else default_lsp_root()
    if not os.path.isfile(os.path.join(root, 'joints.mat')):
        raise UserError('no joints.mat in the LSP folder', root,
                        'pass --lsp-root with a folder holding joints.mat and images/')
    print('threads: %d (%s)' % apply_threads(args.threads, cfg.THREADS))
    from lib.core.lifting import lift_in_batches   # loads torch
    from lib.core.load_model import load_pose_model
    from lib.utils.runtime import select_device
    from lib.vis.plot import contact_sheet, figure_2d_3d, save_png
    device = select_device(args.gpu)
    model = load_pose_model(cfg, ckpt, device, log=note)
    data = load_lsp(root, args.limit, anisotropic=cfg.COMPAT.LSP_ANISOTROPIC,
                    same_norm=cfg.DATA.USE_SAME_NORM_2D)
    poses, scales = lift_in_batches(model, data.x_norm, args.batch_size)
    poses = poses.astype(np.float32)

    done, pngs = [], []
    bar = tqdm(data.images, desc='LSP', unit='img', disable=args.quiet or not sys.stderr.isatty())
    slot = {k: n for n, k in enumerate(data.usable)}
    for k, im in enumerate(bar):
        if im.status != 'ok':
            continue
        n = slot[k]
        try:
            image = read_image(im.path)
        except UserError as e:
            im.status, im.reason = 'failed', e.line()
            continue
        title = '%s  (LSP #%d%s)' % (im.name, im.number, '' if scales is None else
                                     ', scale %.2f' % scales[n])
        fig = figure_2d_3d(im.px_ours, poses[n], image=image, title=title, missing=im.missing,
                           camera_distance=cfg.TRAIN.CAMERA_SKELETON_DISTANCE)
        png = save_png(fig, os.path.join(out_dir, im.stem + '.png'))
        write_json(image_record(im, data, poses[n], None if scales is None else scales[n]),
                   os.path.join(out_dir, im.stem + '.json'))
        done.append(im)
        pngs.append(png)
    bar.close()
    for im in data.images:
        if im.status == 'failed':
            print(im.reason, file=sys.stderr)
    sheet = None
    if pngs and args.sheet > 0:
        sheet = contact_sheet(pngs[:args.sheet], os.path.join(out_dir, 'contact_sheet.png'),
                              cols=4, thumb=480)
    write_index(os.path.join(out_dir, 'index.html'), data, done,
                os.path.basename(sheet) if sheet else None)
    print('lifted %d, skipped %d, failed %d (%s)' % (len(done), data.count('skipped'),
                                                    data.count('failed'), os.path.join(out_dir, 'index.html')))
    return 2 if data.count('failed') else 0


if __name__ == '__main__':
    run_main(main)
