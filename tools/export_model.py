"""Write the inference part of a training checkpoint (the pose model's weights, the
scaler-bypass flag, the epoch, its metrics and the config without machine paths).

    python tools/export_model.py --pretrain output/quickstart/checkpoint.pth.tar \\
        --out scripts/demo_model/quickstart.pth.tar

The result loads wherever a checkpoint is accepted for evaluation or inference
(``--eval --pretrain``, scripts/inference.py, tools/eval_lsp.py), not for --resume.
"""
import _init_paths  # noqa: F401
import argparse
import os

from lib.utils.errors import run_main
from lib.utils.runtime import cli_path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--pretrain', required=True, help='training checkpoint (.pth.tar)')
    p.add_argument('--out', required=True, help='file to write')
    args = p.parse_args(argv)
    from lib.utils.checkpoint import export_inference_checkpoint  # loads torch
    dst = cli_path(args.out)
    small = export_inference_checkpoint(cli_path(args.pretrain), dst)
    print('wrote %s (%.2f MB; epoch %s, scaler %s)' % (dst, os.path.getsize(dst) / 1e6, small.get('epoch', '?'),
                                                      'bypassed' if small['scaler_bypassed'] else 'used'))
    return 0


if __name__ == '__main__':
    run_main(main)
