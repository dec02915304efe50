"""Label-free structure criteria of a model's lifts (lib/eval/criteria.py): bone-proportion
spread, left/right symmetry and the rotation cycle, on a dataset's training and test 2D poses,
beside the proportion spread and symmetry of its ground-truth 3D (which needs the labels: a
reference for what real people give).

    python tools/structure_criteria.py --pretrain CKPT --data_dir DIR [--cfg CFG]

Nothing is written; the table is printed.  The criteria are what ``EVAL.SELECT_BY`` chooses a
checkpoint by (docs/STRUCTURE_STUDY.md, "Choosing an epoch without labels").
"""
import _init_paths  # noqa: F401
import os

from lib.utils.errors import ArgumentParser, UserError, run_main
from lib.utils.runtime import cli_path


def main(argv=None):
    p = ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--pretrain', required=True, help='checkpoint of this project (or an authors\' one with --cfg)')
    p.add_argument('--data_dir', required=True, help='folder with the dataset (DATA.DATASET_NAME of the config)')
    p.add_argument('--cfg', help='config (default: the one stored in the checkpoint)')
    args = p.parse_args(argv)
    ckpt, data_dir = cli_path(args.pretrain), cli_path(args.data_dir)
    if not os.path.isdir(data_dir):
        raise UserError('data folder not found', data_dir, 'check the --data_dir path')
    import torch                                                     # loads torch
    from lib.data.batches import TensorSplit                         # (torch)
    from lib.data.dataset import load_splits                         # (torch)
    from lib.eval import criteria as C                               # (torch)
    from lib.eval.load_model import load_pose_model                  # (torch)
    from lib.inference.model_choice import model_config              # (torch)
    cfg = model_config(ckpt, cli_path(args.cfg) if args.cfg else None)
    cfg.DATA_DIR = data_dir
    device = torch.device('cpu')
    model = load_pose_model(cfg, ckpt, device, log=lambda m: None)
    splits = load_splits(cfg, data_dir)
    rows = []
    for name in ('train', 'test'):
        split = splits[name]
        x = TensorSplit.from_split(split, cfg, device, train=False).pose_2d
        crit = C.CriteriaSet(x, cfg.TRAIN.BOUND_AZIM, cfg.TRAIN.BOUND_ELEV).compute(model)
        rows.append(('model, %s 2D (%d poses)' % (name, min(len(split), C.MAX_POSES)), crit))
        gt = torch.as_tensor(split.pose_3d[C.subsample(len(split))], dtype=torch.float32)
        rows.append(('ground truth, %s 3D' % name, {'bone_spread': C.bone_spread(gt), 'symmetry': C.symmetry(gt)}))
    print('%-32s %s' % ('', ' '.join('%11s' % c for c in C.CRITERIA)))
    for label, crit in rows:
        print('%-32s %s' % (label, ' '.join('%11.4f' % crit[c] if c in crit else '%11s' % '-' for c in C.CRITERIA)))
    return 0


if __name__ == '__main__':
    run_main(main)
