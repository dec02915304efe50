"""Lift the 2D keypoint files of a folder to 3D and draw them (the demo).

    cd scripts && python inference.py --indir demo_input --outdir demo_output \\
        [--cfg ../cfg/h36m_gt_scale.yaml --pretrain ../models/tmc_klbone.pth.tar]

Without --pretrain the model is chosen by the rule of lib/utils/model_choice.py
(the authors' models/tmc_klbone.pth.tar, else the quick start's
output/quickstart/model_best.pth.tar, else the shipped
scripts/demo_model/quickstart.pth.tar) and named on stderr.

Inputs (see lib/data/demo_io.py and scripts/demo_input/README.md): ``.npy``,
``.npz`` or ``.json`` files of pixel keypoints in the Human3.6M-17 (v3d)
order, one pose (17, 2) or a sequence (T, 17, 2); and the original project's
demo pickles ``.pkl`` (read with an allow-list unpickler).  Pixel inputs are
normalised like a training split, one factor per file.

For each input ``<stem>`` the output folder gets, written atomically:

* ``<stem>_3d.npy``: the 3D joints, v3d order, root-centred, network units
  (head-root about 1); (17, 3) or (T, 17, 3);
* ``<stem>_3d.json``: the same joints with names, units and the scale;
* ``<stem>.png``: the 2D pose beside the 3D lift (a sequence: its middle frame);
* ``<stem>.gif``: for a sequence, the animation.

A file that cannot be used gets one line ``error: ... (<file>): <fix>`` on
stderr and the others still run.  Exit status 2 if any file failed, or for
a bad option, config, checkpoint or an empty input folder; 0 otherwise.
Paths on the command line are relative to the current directory.
"""
import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from lib.core.config import get_default, update_config  # noqa: E402
from lib.data import skeleton as sk  # noqa: E402
from lib.data.demo_io import INPUT_SUFFIXES, json_text, list_inputs, output_stems, read_input  # noqa: E402
from lib.utils.errors import UserError, run_main  # noqa: E402
from lib.utils.model_choice import choose_model  # noqa: E402
from lib.utils.runtime import apply_threads, cli_path, one_line_warnings  # noqa: E402
from lib.vis.plot import figure_2d_3d, save_gif, save_png  # noqa: E402
from lib.utils.safe_io import atomic_write, check_writable_dir  # noqa: E402

UNITS = ('root-centred camera frame (x right, y down, z forward), network units: '
         'Human3.6M head-root length is about 1')


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--indir', required=True, help='folder of keypoint files')
    p.add_argument('--outdir', required=True, help='output folder (created if needed)')
    p.add_argument('--cfg', help='YAML config the model was trained with (needed with --pretrain)')
    p.add_argument('--pretrain', help='checkpoint (.pth.tar); default: see lib/utils/model_choice.py')
    p.add_argument('--gpu', default='-1', help='CUDA device index; -1 = CPU (default)')
    p.add_argument('--threads', type=int, metavar='N',
                   help='CPU threads (default: THREADS in the config, else $OMP_NUM_THREADS, else 1)')
    p.add_argument('--gif-fps', type=int, default=10, help='frames per second of the GIFs (default 10)')
    p.add_argument('--gif-frames', type=int, default=100,
                   help='longer sequences are subsampled to this many GIF frames (default 100)')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    args = p.parse_args(argv)
    if args.gif_fps < 1 or args.gif_frames < 1:
        raise UserError('--gif-fps and --gif-frames must be at least 1', '--gif-fps/--gif-frames',
                        'use e.g. --gif-fps 10 --gif-frames 100')
    return args


def record(inp, pose_ours, scale, factor):
    """The ``<stem>_3d.json`` content: v3d order, names, units, scale."""
    pose_v3d = sk.ours_to_v3d(pose_ours)
    one = not inp.sequence
    return {
        'input': inp.name,
        'input_kind': inp.kind,
        'frames': int(len(pose_ours)),
        'joint_order': 'v3d (Human3.6M-17 / VideoPose3D)',
        'joint_names': sk.V3D_NAMES,
        'units': UNITS,
        'joints_3d': np.round(pose_v3d[0] if one else pose_v3d, 6).tolist(),
        'scale': None if scale is None else (float(scale[0]) if one else np.round(scale, 6).tolist()),
        'normalisation_factor': factor,
    }


def write_outputs(inp, stem, out_dir, pose_ours, scale, factor, args, camera_distance):
    """Write the npy, json, png (and gif) of one input."""
    pose_v3d = sk.ours_to_v3d(pose_ours).astype(np.float32)
    with atomic_write(os.path.join(out_dir, stem + '_3d.npy')) as f:
        np.save(f, pose_v3d if inp.sequence else pose_v3d[0])
    with atomic_write(os.path.join(out_dir, stem + '_3d.json'), 'w') as f:
        f.write(json_text(record(inp, pose_ours, scale, factor)))
    T = len(pose_ours)
    t = T // 2
    title = inp.name + (' (frame %d of %d)' % (t + 1, T) if inp.sequence else '')
    if scale is not None:
        title += ', scale %.2f' % scale[t]
    fig = figure_2d_3d(inp.px_ours[t], pose_ours[t], title=title, camera_distance=camera_distance)
    save_png(fig, os.path.join(out_dir, stem + '.png'))
    if inp.sequence:
        save_gif(inp.px_ours, pose_ours, os.path.join(out_dir, stem + '.gif'), fps=args.gif_fps,
                 max_frames=args.gif_frames, title=inp.name, camera_distance=camera_distance)


def main(argv=None):
    args = parse_args(argv)
    in_dir, out_dir = cli_path(args.indir), cli_path(args.outdir)
    paths, docs = list_inputs(in_dir)
    if not paths:
        raise UserError('no input files in the input folder', in_dir,
                        'put keypoint files (%s) into it' % ', '.join(INPUT_SUFFIXES))
    check_writable_dir(out_dir, 'output folder (--outdir)')
    note = lambda m: print(m, file=sys.stderr)     # noqa: E731
    one_line_warnings()
    ckpt, cfg_file, _ = choose_model(cli_path(args.pretrain), cli_path(args.cfg), log=note)
    cfg = get_default()
    update_config(cfg, cfg_file)
    note('threads: %d (%s)' % apply_threads(args.threads, cfg.THREADS))
    from lib.core.inference import lift, load_pose_model, normalise_pixels   # loads torch
    from lib.utils.runtime import select_device
    device = select_device(args.gpu)
    model = load_pose_model(cfg, ckpt, device, log=note)

    show = not args.quiet and sys.stderr.isatty()
    lifted, failed = [], []
    for path, stem in zip(tqdm(paths, desc='lift', unit='file', disable=not show), output_stems(paths)):
        try:
            inp = read_input(path)
            factor = None
            x = inp.x_norm
            if x is None:
                x, factor = normalise_pixels(inp.px_ours, cfg)
            out = lift(model, x)
        except UserError as e:
            tqdm.write(e.line(), file=sys.stderr)
            failed.append(path)
            continue
        lifted.append((inp, stem, out['pose_3d'], out['scale'], factor))

    done = 0
    for inp, stem, pose, scale, factor in tqdm(lifted, desc='draw', unit='file', disable=not show):
        try:
            write_outputs(inp, stem, out_dir, pose, scale, factor, args, cfg.TRAIN.CAMERA_SKELETON_DISTANCE)
        except OSError as e:
            print(UserError('cannot write the outputs (%s)' % (e.strerror or e), inp.path,
                            'check the free space and permissions of --outdir').line(), file=sys.stderr)
            failed.append(inp.path)
            continue
        done += 1
    skipped = ', '.join(os.path.basename(d) for d in docs)
    print('lifted %d, skipped %d%s, failed %d (%s)' % (done, len(docs), ' (%s: not keypoints)' % skipped
                                                       if docs else '', len(failed), out_dir))
    return 2 if failed else 0


if __name__ == '__main__':
    run_main(main)
