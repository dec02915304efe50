"""What ``tools/eval_lsp.py`` does: lift the LSP annotations with a trained model and draw each.

:func:`run_lsp_eval` chooses the model and checks the config (before torch loads), lifts
every usable image's 2D (:func:`lib.eval.lifting.lift_in_batches`), then writes per image
``<stem>.png`` (the image and its 2D beside the 3D lift) and ``<stem>.json``
(:func:`image_record`), and for the run ``contact_sheet.png`` and ``index.html``
(:func:`write_index`), each atomically.  Reading and normalising LSP: :mod:`lib.inference.lsp`.
"""
import html
import os
import sys

import numpy as np
from tqdm import tqdm

from lib.data import skeleton as sk
from lib.inference.lsp import LSP_NAMES, image_folder, load_lsp, read_image
from lib.inference.model_choice import check_model_file, choose_model, model_config
from lib.inference.outputs import UNITS, json_text
from lib.utils.errors import UserError
from lib.utils.outputs import check_output_dir, create_output_dir
from lib.utils.runtime import REPO_ROOT, apply_threads, one_line_warnings, resolve_threads, select_device
from lib.utils.safe_io import atomic_write


def default_lsp_root():
    """``<repo>/data/lsp`` when it exists, else the 400-image sample ``<repo>/../shared/data/lsp_sample``."""
    own = os.path.join(REPO_ROOT, 'data', 'lsp')
    if os.path.isdir(own):
        return own
    return os.path.normpath(os.path.join(REPO_ROOT, '..', 'shared', 'data', 'lsp_sample'))


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
and were filled in (lib/inference/lsp.py). {sheet}</p>
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


def draw_images(data, poses, scales, out_dir, depths, quiet=False):
    """``<stem>.png`` and ``<stem>.json`` of every usable image; an unreadable image is marked
    failed.  Returns (the images drawn, their png paths)."""
    from lib.vis.plot import figure_2d_3d, save_png  # loads matplotlib
    done, pngs = [], []
    bar = tqdm(data.images, desc='LSP', unit='img', disable=quiet or not sys.stderr.isatty())
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
                           camera_distance=float(depths[n]))
        png = save_png(fig, os.path.join(out_dir, im.stem + '.png'))
        write_json(image_record(im, data, poses[n], None if scales is None else scales[n]),
                   os.path.join(out_dir, im.stem + '.json'))
        done.append(im)
        pngs.append(png)
    bar.close()
    return done, pngs


def run_lsp_eval(out_dir, pretrain=None, cfg_file=None, lsp_root=None, gpu='-1', threads=None, limit=None,
                 batch_size=256, sheet=48, quiet=False, force=False, verbose=False):
    """The whole of ``tools/eval_lsp.py`` after its arguments (paths absolute); returns the exit
    status: 2 when an image failed, else 0.  Every path is checked before anything is printed or
    made; the output folder is made once the annotations are read and lifted."""
    note = lambda m: print(m, file=sys.stderr)     # noqa: E731
    one_line_warnings(verbose)
    root = lsp_root or default_lsp_root()
    if not os.path.isfile(os.path.join(root, 'joints.mat')):
        raise UserError('no joints.mat in the LSP folder', root,
                        'pass --lsp-root with a folder holding joints.mat and images/ (Leeds Sports Pose: '
                        'http://sam.johnson.io/research/lsp.html; put it in data/lsp to make it the default)')
    out_dir = check_output_dir(out_dir, '--out', inputs=[root, image_folder(root)], force=force, empty=True)
    said = []                          # printed once the config and the thread count are known good
    ckpt, cfg_file, _ = choose_model(pretrain, cfg_file, log=said.append)
    cfg = model_config(ckpt, cfg_file)
    resolve_threads(threads, cfg.THREADS)
    check_model_file(ckpt)
    print('\n'.join(said))
    threads = apply_threads(threads, cfg.THREADS)
    if verbose:
        print('threads: %d (%s)' % threads)
    from lib.eval.lifting import lift_in_batches  # loads torch
    from lib.eval.load_model import load_pose_model  # loads torch
    from lib.vis.plot import contact_sheet  # loads matplotlib
    model = load_pose_model(cfg, ckpt, select_device(gpu), log=note)
    data = load_lsp(root, limit, anisotropic=cfg.COMPAT.LSP_ANISOTROPIC, same_norm=cfg.DATA.USE_SAME_NORM_2D)
    if not data.usable:
        raise UserError('none of the %d images can be lifted (%s)' % (len(data.images), data.images[0].reason),
                        root, 'check joints.mat and images/')
    poses, scales, depths = lift_in_batches(model, data.x_norm, batch_size, with_root_depth=True)
    create_output_dir(out_dir, '--out')
    done, pngs = draw_images(data, poses.astype(np.float32), scales, out_dir,
                             depths, quiet)
    for im in data.images:
        if im.status == 'failed':
            print(im.reason, file=sys.stderr)
    sheet_png = None
    if pngs and sheet > 0:
        sheet_png = contact_sheet(pngs[:sheet], os.path.join(out_dir, 'contact_sheet.png'), cols=4, thumb=480)
    write_index(os.path.join(out_dir, 'index.html'), data, done, os.path.basename(sheet_png) if sheet_png else None)
    print('lifted %d, skipped %d, failed %d (%s)' % (len(done), data.count('skipped'),
                                                    data.count('failed'), os.path.join(out_dir, 'index.html')))
    return 2 if data.count('failed') else 0
