"""Which trained model to use: one rule for the demo (``scripts/demo.sh``),
``scripts/inference.py`` and ``tools/eval_lsp.py``.

1. ``--pretrain CKPT``: the model named.  Its config is ``--cfg`` when given, else the
   config stored in the checkpoint (every checkpoint this project writes holds one;
   the authors' released ones do not and need ``--cfg``).
2. ``models/tmc_klbone.pth.tar`` with ``cfg/h36m_gt_scale.yaml``: the authors' released
   best model (Human3.6M), where their README puts it, when the user downloaded it.
3. ``scripts/demo_model/demo.pth.tar`` with the config stored in it: the small model
   shipped in the repository, so the demo runs on a fresh clone without training.

A model the user trained (``output/...``) is used only when named with ``--pretrain``:
training never changes what the demo uses.  The printed line names the model and why.
Paths are relative to the repository root.  Only :func:`model_config` of a checkpoint's stored
config loads torch.
"""
import os

from lib.config.defaults import get_default
from lib.config.load import update_config
from lib.utils.errors import UserError
from lib.utils.runtime import REPO_ROOT

#: (checkpoint, config or None for the one stored in the checkpoint, what it is), in order
CANDIDATES = (
    ('models/tmc_klbone.pth.tar', 'cfg/h36m_gt_scale.yaml', "the authors' released best model"),
    ('scripts/demo_model/demo.pth.tar', None, 'the small demo model shipped with the repository'),
)

#: the config column of a choice whose config is the one stored in the checkpoint
STORED = None


def choose_model(pretrain=None, cfg=None, root=REPO_ROOT, log=None):
    """(checkpoint path, config path or None, one-line description) by the rule above.

    ``pretrain`` / ``cfg``: what the user named (absolute paths, or None).  A config of None
    means: read the one stored in the checkpoint (:func:`lib.eval.load_model.checkpoint_config`).
    ``log`` (a callable) gets the line saying which model is used and why.
    """
    if cfg and not os.path.isfile(cfg):
        raise UserError('config file not found', cfg, 'check the --cfg path')
    if pretrain:
        choice = (pretrain, cfg or STORED, 'named with --pretrain')
    else:
        found = [i for i, (c, _, _) in enumerate(CANDIDATES) if os.path.isfile(os.path.join(root, c))]
        if not found:
            raise UserError('no model: looked for %s' % ', '.join(c for c, _, _ in CANDIDATES), root,
                            "put the authors' tmc_klbone.pth.tar into models/, or pass --pretrain CKPT")
        ckpt, default_cfg, what = CANDIDATES[found[0]]
        why = 'no --pretrain given'
        if found[0]:
            why += ', %s not found' % ', '.join(c for c, _, _ in CANDIDATES[:found[0]])
        what += ' (%s; a model you trained is used only with --pretrain)' % why
        choice = (os.path.join(root, ckpt), cfg or (os.path.join(root, default_cfg) if default_cfg else STORED),
                  what)
    if log is not None:
        log('model: %s, %s; config: %s' % (_rel(choice[0], root), choice[2],
                                           _rel(choice[1], root) if choice[1] else 'the one stored in the checkpoint'))
    return choice


def model_config(ckpt, cfg_file):
    """The config of a chosen model: the file ``cfg_file``, else (None) the one stored in the
    checkpoint, which needs reading it (torch loads then)."""
    if cfg_file:
        return update_config(get_default(), cfg_file)
    check_model_file(ckpt)
    from lib.eval.load_model import checkpoint_config  # loads torch
    return checkpoint_config(ckpt)


def check_model_file(ckpt):
    """The chosen checkpoint must exist (checked before anything is printed)."""
    if not os.path.isfile(ckpt):
        raise UserError('checkpoint not found', ckpt, 'check the --pretrain path')


def _rel(path, root):
    rel = os.path.relpath(path, root)
    return path if rel.startswith('..') else rel
