"""Write the inference part of a training checkpoint (the pose model's weights, the
scaler-bypass flag, the epoch, its metrics and the config without machine paths).

    python tools/export_model.py --pretrain output/demo_model/bench_scale_after/checkpoint.pth.tar \\
        --out scripts/demo_model/demo.pth.tar        (tools/make_demo_model.sh)

The result loads wherever a checkpoint is accepted for evaluation or inference
(``--eval --pretrain``, scripts/inference.py, tools/eval_lsp.py), not for --resume.
"""
import _init_paths  # noqa: F401
import os

from lib.utils.errors import ArgumentParser, UserError, run_main
from lib.utils.outputs import check_output_file
from lib.utils.runtime import cli_path


def main(argv=None):
    p = ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--pretrain', required=True, help='training checkpoint (.pth.tar)')
    p.add_argument('--out', required=True, help='file to write (never the --pretrain file itself)')
    p.add_argument('--force', action='store_true', help='replace an existing --out file')
    args = p.parse_args(argv)
    src = cli_path(args.pretrain)
    if not os.path.isfile(src):
        raise UserError('checkpoint not found', src, 'check the --pretrain path')
    dst = check_output_file(cli_path(args.out), '--out', inputs=[src], force=args.force)
    from lib.models.checkpoint import export_inference_checkpoint  # loads torch
    small = export_inference_checkpoint(src, dst)
    print('wrote %s (%.2f MB; epoch %s, scaler %s)' % (dst, os.path.getsize(dst) / 1e6, small.get('epoch', '?'),
                                                      'bypassed' if small['scaler_bypassed'] else 'used'))
    return 0


if __name__ == '__main__':
    run_main(main)
