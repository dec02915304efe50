"""Lift 2D keypoints, images or a video to 3D and draw them (the demo).

    cd scripts && python inference.py --indir demo_input --outdir demo_output \\
        [--cfg ../cfg/h36m_gt_scale.yaml --pretrain ../models/tmc_klbone.pth.tar]
    python scripts/inference.py --images DIR_OR_PHOTO --outdir OUT [--pretrain CKPT [--cfg CFG]]
    python scripts/inference.py --video FILE --outdir OUT [--pretrain CKPT [--cfg CFG]] [--smooth 2]

Inputs (one of):

* ``--indir``: a folder of keypoint files, or one file (see lib/inference/keypoints.py and
  scripts/demo_input/README.md): ``.npy``, ``.npz`` or ``.json`` pixel
  keypoints, one pose (J, 2) or a sequence (T, J, 2), in the order
  ``--joint-order`` (h36m, coco17, openpose25, mediapipe33; a third column is
  a confidence), OpenPose / MMPose JSON, and the original project's demo
  pickles ``.pkl``.  An image with the same stem (``3.pkl`` + ``3.jpg``) is
  drawn under the 2D and gets the authors' figure ``<stem>_out.jpg``.
* ``--images``: a folder of images, or one image; the person in each (the largest one) is
  found by an offline detector (MediaPipe Pose, lib/inference/detector.py).
* ``--video``: a video file; the person is found in every frame.

``--images`` and ``--video`` need ``pip install -r requirements-media.txt`` (the
detector and OpenCV); without it they stop with one line saying so.

The model (lib/inference/model_choice.py): the one named with --pretrain (its config:
--cfg, else the one stored in the checkpoint), else the authors' released
models/tmc_klbone.pth.tar, else the shipped scripts/demo_model/demo.pth.tar; a model
you trained is used only when named.  The first line printed says which, and why.

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
  for a video, through OpenCV (no system ffmpeg; a GIF and one line why where
  OpenCV cannot encode MP4);
* ``<stem>.bvh`` with ``--bvh`` (lib/inference/bvh_export.py): the lifted frames only; the
  JSON's ``bvh_frames`` gives the input frame of each BVH frame.

``--outdir`` must be new or empty (``--force`` writes into a non-empty one) and
is neither an input folder nor the folder of the input video; it is created
when the first result is written.

A bad path or option is one ``error:`` line before anything is printed or
created.  A file that cannot be used gets one line ``error: ... (<file>): <fix>`` on
stderr and the others still run; an image with nobody in it is listed as
skipped.  Exit status 2 if any file failed or nothing could be lifted, or for
a bad option, config, checkpoint or an empty input; 0 otherwise.  Paths on
the command line are relative to the current directory.
"""
import _init_paths  # noqa: F401
import argparse
import math

from lib.inference.demo import run_demo
from lib.inference.joint_orders import ORDERS
from lib.utils.errors import ArgumentParser, UserError, run_main


def parse_args(argv):
    p = ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--indir', help='folder of keypoint files, or one file')
    src.add_argument('--images', help='folder of images, or one image: detect the person in each (MediaPipe)')
    src.add_argument('--video', help='video file: detect the person in each frame (MediaPipe)')
    p.add_argument('--outdir', required=True,
                   help='output folder: new or empty (created when the first result is written)')
    p.add_argument('--force', action='store_true',
                   help='write into a non-empty --outdir (files of the same name are replaced, others kept)')
    p.add_argument('--cfg', help='YAML config the model was trained with (default: the one stored in the '
                   'checkpoint; the authors\' checkpoints store none)')
    p.add_argument('--pretrain', help='checkpoint (.pth.tar); default: the authors\' models/tmc_klbone.pth.tar, '
                   'else the shipped scripts/demo_model/demo.pth.tar (lib/inference/model_choice.py)')
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
    p.add_argument('--verbose', action='store_true',
                   help='also print the thread count and the unused keys the authors\' configs set')
    args = p.parse_args(argv)
    if not (1 <= args.gif_fps <= 100 and 1 <= args.gif_frames <= 10000):
        raise UserError('--gif-fps must be 1 to 100 and --gif-frames 1 to 10000', '--gif-fps/--gif-frames',
                        'use e.g. --gif-fps 10 --gif-frames 100')
    if not (math.isfinite(args.min_confidence) and 0 <= args.min_confidence <= 1):
        raise UserError('--min-confidence must be in [0, 1], got %r' % args.min_confidence, '--min-confidence',
                        'use e.g. 0.1')
    if not 0 <= args.smooth <= 1000 or args.step < 1 or (args.max_frames is not None and args.max_frames < 1):
        raise UserError('--smooth must be >= 0, --step and --max-frames >= 1', '--smooth/--step/--max-frames',
                        'use e.g. --smooth 2 --step 1')
    return args


def main(argv=None):
    return run_demo(parse_args(argv))


if __name__ == '__main__':
    run_main(main)
