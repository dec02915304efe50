"""Which trained model to use when none is named: one rule for the demo
(``scripts/demo.sh``), ``scripts/inference.py`` and ``tools/eval_lsp.py``.

``--pretrain CKPT`` (with ``--cfg``) always wins.  Otherwise the first file that
exists of:

1. ``models/tmc_klbone.pth.tar`` with ``cfg/h36m_gt_scale.yaml``: the authors'
   best model (Human3.6M), downloaded by the user;
2. ``output/quickstart/model_best.pth.tar`` with ``cfg/quickstart.yaml``: what
   the quick start (``python tools/main.py --cfg cfg/quickstart.yaml``) trained;
3. ``scripts/demo_model/demo.pth.tar`` with ``cfg/quickstart.yaml`` (the same
   network size): the small model shipped in the repository, so the demo runs on
   a fresh clone without training (the recommended recipe on all the shared
   motion-capture clips, ``tools/make_demo_model.sh``; inference weights only).

Paths are relative to the repository root.  Nothing here imports torch.
"""
import os

from lib.utils.errors import UserError
from lib.utils.runtime import REPO_ROOT

CANDIDATES = (
    ('models/tmc_klbone.pth.tar', 'cfg/h36m_gt_scale.yaml', "the authors' best model"),
    ('output/quickstart/model_best.pth.tar', 'cfg/quickstart.yaml', 'the model the quick start trained'),
    ('scripts/demo_model/demo.pth.tar', 'cfg/quickstart.yaml', 'the small demo model shipped with the '
                                                                'repository'),
)


def choose_model(pretrain=None, cfg=None, root=REPO_ROOT, log=None):
    """(checkpoint path, config path, one-line description) by the rule above.

    ``pretrain`` / ``cfg``: what the user named (absolute paths, or None).  A named
    checkpoint needs its config.  ``log`` (a callable) gets the description line.
    """
    if pretrain:
        if not cfg:
            raise UserError('--pretrain needs --cfg', '--cfg', 'name the config the checkpoint was trained with')
        choice = (pretrain, cfg, 'the model named with --pretrain')
    else:
        found = [i for i, (c, _, _) in enumerate(CANDIDATES) if os.path.isfile(os.path.join(root, c))]
        if not found:
            raise UserError('no trained model: looked for %s' % ', '.join(c for c, _, _ in CANDIDATES), root,
                            "put the authors' tmc_klbone.pth.tar into models/, train one with python "
                            'tools/main.py --cfg cfg/quickstart.yaml --gpu -1, or pass --pretrain CKPT --cfg CFG')
        ckpt, default_cfg, what = CANDIDATES[found[0]]
        if found[0]:
            what += ' (%s not found)' % ', '.join(c for c, _, _ in CANDIDATES[:found[0]])
        ckpt, default_cfg = os.path.join(root, ckpt), os.path.join(root, default_cfg)
        if cfg and not os.path.isfile(cfg):
            raise UserError('config file not found', cfg, 'check the --cfg path')
        choice = (ckpt, cfg or default_cfg, what)
    if log is not None:
        log('model: %s, %s; config %s' % (_rel(choice[0], root), choice[2], _rel(choice[1], root)))
    return choice


def check_model_file(ckpt):
    """The chosen checkpoint must exist (checked once its config has been read, before anything
    is printed)."""
    if not os.path.isfile(ckpt):
        raise UserError('checkpoint not found', ckpt, 'check the --pretrain path')


def _rel(path, root):
    rel = os.path.relpath(path, root)
    return path if rel.startswith('..') else rel
