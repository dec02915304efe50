"""Lift 2D keypoints, images or a video to 3D and draw them (the demo).

    cd scripts && python inference.py --indir demo_input --outdir demo_output \\
        [--cfg ../cfg/h36m_gt_scale.yaml --pretrain ../models/tmc_klbone.pth.tar]
    python scripts/inference.py --images DIR --outdir OUT --cfg CFG --pretrain CKPT
    python scripts/inference.py --video FILE --outdir OUT --cfg CFG --pretrain CKPT [--smooth 2]

Inputs (one of):

* ``--indir``: keypoint files (see lib/data/demo_io.py and
  scripts/demo_input/README.md): ``.npy``, ``.npz`` or ``.json`` pixel
  keypoints, one pose (J, 2) or a sequence (T, J, 2), in the order
  ``--joint-order`` (h36m, coco17, openpose25, mediapipe33; a third column is
  a confidence), OpenPose / MMPose JSON, and the original project's demo
  pickles ``.pkl``.  An image with the same stem (``3.pkl`` + ``3.jpg``) is
  drawn under the 2D and gets the authors' figure ``<stem>_out.jpg``.
* ``--images``: a folder of images; the person in each (the largest one) is
  found by an offline detector (MediaPipe Pose, lib/data/detector.py).
* ``--video``: a video file; the person is found in every frame.

Without --pretrain the model is chosen by the rule of lib/utils/model_choice.py
(the authors' models/tmc_klbone.pth.tar, else the quick start's
output/quickstart/model_best.pth.tar, else the shipped
scripts/demo_model/quickstart.pth.tar) and named on stderr.

Pixel inputs are normalised like a training split, one factor per file /
image / video.  For each input ``<stem>`` the output folder gets, written
atomically:

* ``<stem>_3d.npy``: the 3D joints, v3d order, root-centred, network units
  (head-root about 1); (17, 3) or (T, 17, 3), NaN in skipped frames;
* ``<stem>_3d.json``: the 2D (``joints_2d``, pixels, v3d order) and 3D
  (``joints_3d``) joints with names, units, the scale, the skipped frames;
* ``<stem>.png``: the 2D pose (over the image, if any) beside the 3D lift;
* ``<stem>_out.jpg``: with an image, the authors' figure (the image on a
  plane behind the 3D skeleton);
* ``<stem>.gif``: for a keypoint sequence; ``<stem>.mp4`` (``--gif``: .gif)
  for a video;
* ``<stem>.bvh`` with ``--bvh`` (lib/data/bvh_export.py).

A file that cannot be used gets one line ``error: ... (<file>): <fix>`` on
stderr and the others still run; an image with nobody in it is listed as
skipped.  Exit status 2 if any file failed or nothing could be lifted, or for
a bad option, config, checkpoint or an empty input; 0 otherwise.  Paths on
the command line are relative to the current directory.
"""
import _init_paths  # noqa: F401
import argparse
import os
import sys

import numpy as np
from tqdm import tqdm

from lib.core.config import get_default, update_config
from lib.data.demo_io import INPUT_SUFFIXES, list_inputs, output_stems, read_input
from lib.data.joint_orders import ORDERS
from lib.data.media_io import list_images, read_image
from lib.utils.errors import UserError, run_main
from lib.utils.model_choice import choose_model
from lib.utils.runtime import apply_threads, cli_path, one_line_warnings
from lib.utils.safe_io import check_writable_dir
from lib.vis.plot import CUBE_M, contact_sheet, figure_2d_3d, save_gif, save_png

demo_run = None         # lib.core.demo_run, imported (with torch) once the config is checked


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--indir', help='folder of keypoint files')
    src.add_argument('--images', help='folder of images: detect the person in each (MediaPipe)')
    src.add_argument('--video', help='video file: detect the person in each frame (MediaPipe)')
    p.add_argument('--outdir', required=True, help='output folder (created if needed)')
    p.add_argument('--cfg', help='YAML config the model was trained with (needed with --pretrain)')
    p.add_argument('--pretrain', help='checkpoint (.pth.tar); default: see lib/utils/model_choice.py')
    p.add_argument('--gpu', default='-1', help='CUDA device index; -1 = CPU (default)')
    p.add_argument('--threads', type=int, metavar='N',
                   help='CPU threads (default: THREADS in the config, else $OMP_NUM_THREADS, else 1)')
    p.add_argument('--joint-order', default='h36m', choices=ORDERS,
                   help='joint order of --indir keypoint files (default h36m = v3d)')
    p.add_argument('--min-confidence', type=float, default=0.1,
                   help='joints with a lower confidence (third column) are missing (default 0.1)')
    p.add_argument('--bvh', action='store_true', help='also write <stem>.bvh (a one-frame clip for an image)')
    p.add_argument('--smooth', type=int, default=0,
                   help='--video: average the 2D over this many frames each side (default 0: off)')
    p.add_argument('--step', type=int, default=1, help='--video: use every N-th frame (default 1)')
    p.add_argument('--max-frames', type=int, default=None, help='--video: at most this many frames')
    p.add_argument('--gif', action='store_true', help='--video: write a GIF instead of an MP4')
    p.add_argument('--reference', default=None,
                   help='folder of reference figures <stem>_out.jpg: contact sheet comparing them')
    p.add_argument('--gif-fps', type=int, default=10, help='frames per second of the GIFs (default 10)')
    p.add_argument('--gif-frames', type=int, default=100,
                   help='longer sequences are subsampled to this many GIF frames (default 100)')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    args = p.parse_args(argv)
    if args.gif_fps < 1 or args.gif_frames < 1:
        raise UserError('--gif-fps and --gif-frames must be at least 1', '--gif-fps/--gif-frames',
                        'use e.g. --gif-fps 10 --gif-frames 100')
    if args.smooth < 0 or args.step < 1 or (args.max_frames is not None and args.max_frames < 1):
        raise UserError('--smooth must be >= 0, --step and --max-frames >= 1', '--smooth/--step/--max-frames',
                        'use e.g. --smooth 2 --step 1')
    return args


def jobs(args, detector, show):
    """[(path, stem, loader)] for the chosen input, and the files skipped as documentation."""
    if args.indir:
        paths, docs = list_inputs(cli_path(args.indir))
        if not paths:
            raise UserError('no input files in the input folder', cli_path(args.indir),
                            'put keypoint files (%s) into it' % ', '.join(INPUT_SUFFIXES))
        return [(p, s, lambda p=p: read_input(p, args.joint_order, args.min_confidence))
                for p, s in zip(paths, output_stems(paths))], docs
    if args.images:
        paths = list_images(cli_path(args.images))
        if not paths:
            raise UserError('no images in the folder', cli_path(args.images), 'put .jpg / .png images into it')
        return [(p, s, lambda p=p: demo_run.detect_image(detector(), p))
                for p, s in zip(paths, output_stems(paths))], []
    path = cli_path(args.video)
    bar = (lambda it: tqdm(it, desc='detect', unit='frame', disable=not show))
    return [(path, os.path.splitext(os.path.basename(path))[0],
             lambda: demo_run.detect_video(detector, path, args.smooth, args.step, args.max_frames, bar))], []


def draw(inp, stem, out_dir, pose, scale, args, camera_distance):
    """The figures of one lifted input (its middle usable frame) and its animation."""
    valid = np.where(inp.valid)[0]
    t = int(valid[len(valid) // 2])
    T = len(pose)
    title = inp.name + (' (frame %d of %d)' % (t + 1, T) if inp.sequence else '')
    if scale is not None:
        title += ', scale %.2f' % scale[t]
    image = inp.frames[t] if inp.frames else (read_image(inp.picture) if inp.picture else None)
    miss = None if inp.missing is None else inp.missing[t]
    fig = figure_2d_3d(inp.px_ours[t], pose[t], image=image, title=title, missing=miss,
                       camera_distance=camera_distance)
    save_png(fig, os.path.join(out_dir, stem + '.png'))
    if image is not None:
        from lib.vis.authors_figure import authors_figure, save_jpg
        save_jpg(authors_figure(pose[t], image, inp.px_ours[t]), os.path.join(out_dir, stem + '_out.jpg'))
    if inp.frames and inp.sequence:
        show = not args.quiet and sys.stderr.isatty()
        demo_run.write_video(inp, stem, out_dir, pose, CUBE_M, gif=args.gif,
                             progress=lambda it: tqdm(it, desc='video', unit='frame', disable=not show))
    elif inp.sequence:
        ok = inp.valid
        save_gif(inp.px_ours[ok], pose[ok], os.path.join(out_dir, stem + '.gif'), fps=args.gif_fps,
                 max_frames=args.gif_frames, title=inp.name, camera_distance=camera_distance)


def main(argv=None):
    args = parse_args(argv)
    out_dir = cli_path(args.outdir)
    show = not args.quiet and sys.stderr.isatty()
    holder = []

    def detector():
        if not holder:
            from lib.data.detector import PoseDetector
            holder.append(PoseDetector())
        return holder[0]

    todo, docs = jobs(args, detector, show)
    note = lambda m: print(m, file=sys.stderr)     # noqa: E731
    one_line_warnings()
    ckpt, cfg_file, _ = choose_model(cli_path(args.pretrain), cli_path(args.cfg), log=print)
    cfg = get_default()
    update_config(cfg, cfg_file)
    print('threads: %d (%s)' % apply_threads(args.threads, cfg.THREADS))
    global demo_run
    from lib.core import demo_run                        # loads torch
    from lib.core.load_model import load_pose_model
    from lib.utils.runtime import select_device
    device = select_device(args.gpu)
    model = load_pose_model(cfg, ckpt, device, log=note)
    existed = os.path.isdir(out_dir)
    check_writable_dir(out_dir, 'output folder (--outdir)')

    lifted, failed, skipped, notes = [], [], [], []
    for path, stem, load in tqdm(todo, desc='lift', unit='file', disable=not show or len(todo) < 2):
        try:
            inp = load()
            pose, scale, factor = demo_run.lift_input(model, inp, cfg)
        except demo_run.Skip as e:
            skipped.append('%s (%s)' % (os.path.basename(path), e))
            continue
        except UserError as e:
            tqdm.write(e.line(), file=sys.stderr)
            failed.append(path)
            continue
        if inp.warning:
            tqdm.write(inp.warning, file=sys.stderr)
        if inp.skipped:
            notes.append('%s: %d of %d frames skipped (%s)' % (inp.name, len(inp.skipped), len(pose),
                                                          ', '.join(sorted(set(inp.skipped.values())))))
        lifted.append((inp, stem, pose, scale, factor))
    for h in holder:
        h.close()
    done = write_all(lifted, out_dir, args, show, failed, cfg.TRAIN.CAMERA_SKELETON_DISTANCE)
    if not done and not existed:
        try:
            os.rmdir(out_dir)          # nothing was written: leave no empty folder behind
        except OSError:
            pass
    if args.reference and done:
        sheet_with_reference(out_dir, cli_path(args.reference), [s for _, s, _, _, _ in lifted])
    report(done, docs, skipped, notes, failed, out_dir)
    return 2 if failed or not done else 0


def write_all(lifted, out_dir, args, show, failed, camera_distance):
    done = 0
    for inp, stem, pose, scale, factor in tqdm(lifted, desc='draw', unit='file', disable=not show):
        try:
            demo_run.write_arrays(inp, stem, out_dir, pose, scale, factor)
            draw(inp, stem, out_dir, pose, scale, args, camera_distance)
            if args.bvh:
                demo_run.write_bvh(inp, stem, out_dir, pose)
        except OSError as e:
            print(UserError('cannot write the outputs (%s)' % (e.strerror or e), inp.path,
                            'check the free space and permissions of --outdir').line(), file=sys.stderr)
            failed.append(inp.path)
            continue
        done += 1
    return done


def sheet_with_reference(out_dir, ref_dir, stems):
    """contact_sheet.png: each ``<stem>_out.jpg`` beside the reference figure of the same name."""
    pairs = []
    for s in stems:
        mine, ref = os.path.join(out_dir, s + '_out.jpg'), os.path.join(ref_dir, s + '_out.jpg')
        if os.path.isfile(mine) and os.path.isfile(ref):
            pairs += [ref, mine]
    if pairs:
        contact_sheet(pairs, os.path.join(out_dir, 'contact_sheet.png'), cols=4, thumb=360,
                      caption_fn=lambda p: ('reference ' if p.startswith(ref_dir) else 'this project ')
                      + os.path.basename(p))


def report(done, docs, skipped, notes, failed, out_dir):
    """The closing lines: the frames skipped inside inputs, then one summary line."""
    for line in notes:
        print(line)
    why = ['%s: not keypoints' % ', '.join(os.path.basename(d) for d in docs)] if docs else []
    why += skipped
    print('lifted %d, skipped %d%s, failed %d (%s)' % (done, len(docs) + len(skipped),
                                                       ' (%s)' % '; '.join(why) if why else '', len(failed), out_dir))


if __name__ == '__main__':
    run_main(main)
