"""Run the authors' released code beside this project's, for parity tests and benchmarks.

Their code is imported at run time from a folder (``../shared/original`` beside
the repository by default, or ``$AUTHORS_CODE_DIR``); none of it is copied into
this repository.  Their package is also called ``lib``, so it is imported under
that name while this project's ``lib`` modules are set aside, and the project's
are put back afterwards: their modules keep references to each other through
their own globals and never appear in ``sys.modules``.

Shims, all needed to run their code on today's stack, each scoped as narrowly
as it can be:

* while importing: stub modules for ``sklearn.metrics`` (``auc``), ``cv2``,
  ``seaborn`` and ``imageio`` (``imread``) where those packages are not
  installed (imported but unused on the training / evaluation paths; each stub
  has a ``__spec__``, which ``torch._dynamo`` reads inside ``optim.Adam``);
* ``yaml.load`` without a Loader (their ``update_config``): their config
  module gets a ``yaml`` whose ``load`` is ``safe_load``;
* while their code runs (:meth:`AuthorsCode.running`): ``np.float`` /
  ``np.int``, matplotlib's removed ``Axes3D.w_xaxis / w_yaxis / w_zaxis``
  (their figure code), ``.cuda()`` on tensors and modules as a no-op when no
  GPU is present, and the working directory set to a temporary ``scripts/``
  folder, so their ``../data/...`` paths (factor pickles, sequence-name pickle)
  land in a temporary ``data/`` folder, never in the folder their code is in;
* their ``tqdm`` progress bars are disabled; ``NUM_WORKERS`` is 0;
* ``draw_figures = False`` replaces their figure function (``vis_joints``, a
  matplotlib drawing of arrays they already computed) with a blank image, to
  save its second per call; it changes nothing they compute.
"""
import contextlib
import copy
import importlib
import importlib.machinery
import importlib.util
import os
import shutil
import sys
import tempfile
import types

import numpy as np
import torch

from lib.utils.errors import UserError

ENV_VAR = 'AUTHORS_CODE_DIR'
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_DIR = os.path.normpath(os.path.join(REPO, '..', 'shared', 'original'))

_MODULES = ('lib.core.config', 'lib.core.loss', 'lib.utils.utils', 'lib.utils.misc',
            'lib.models.model', 'lib.dataloader.h36m', 'lib.core.function1', 'lib.core.function2')


def find_authors_dir(path=None):
    """The authors' code folder (argument, else $AUTHORS_CODE_DIR, else the default), or None."""
    path = path or os.environ.get(ENV_VAR) or DEFAULT_DIR
    ok = os.path.isfile(os.path.join(path, 'lib', 'core', 'function2.py'))
    return os.path.abspath(path) if ok else None


def _stub(name, **attrs):
    m = types.ModuleType(name)
    m.__spec__ = importlib.machinery.ModuleSpec(name, None)
    m.__dict__.update(attrs)
    return m


def _auc(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


def _imread(path):
    import matplotlib.image
    img = matplotlib.image.imread(path)
    return (img * 255).round().astype(np.uint8) if img.dtype != np.uint8 else img


def _missing_stubs():
    """Stub modules for the packages their imports need and this environment lacks."""
    want = {'sklearn': {}, 'sklearn.metrics': {'auc': _auc}, 'cv2': {}, 'seaborn': {},
            'imageio': {'imread': _imread}}
    stubs = {}
    for name, attrs in want.items():
        top = name.split('.')[0]
        if top in stubs or importlib.util.find_spec(top) is None:
            stubs[name] = _stub(name, **attrs)
    if 'sklearn.metrics' in stubs:
        stubs['sklearn'].metrics = stubs['sklearn.metrics']
    return stubs


def _import_their_modules(root):
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k == 'lib' or k.startswith('lib.')}
    stubs = _missing_stubs()
    sys.modules.update(stubs)
    try:
        pkg = types.ModuleType('lib')
        pkg.__path__ = [os.path.join(root, 'lib')]
        pkg.__spec__ = importlib.machinery.ModuleSpec('lib', None, is_package=True)
        pkg.__spec__.submodule_search_locations = pkg.__path__
        sys.modules['lib'] = pkg
        return {name.split('.')[-1]: importlib.import_module(name) for name in _MODULES}
    finally:
        for k in [k for k in sys.modules if k == 'lib' or k.startswith('lib.')]:
            del sys.modules[k]
        for k in stubs:
            sys.modules.pop(k, None)
        sys.modules.update(saved)


class _SafeYaml:
    """Stands in for the ``yaml`` module inside their config module."""

    @staticmethod
    def load(stream, Loader=None):
        import yaml
        return yaml.load(stream, Loader=Loader or yaml.SafeLoader)


def _quiet_tqdm():
    from tqdm import tqdm

    class QuietTqdm(tqdm):
        def __init__(self, *a, **k):
            k['disable'] = True
            super().__init__(*a, **k)

        @classmethod
        def write(cls, *a, **k):
            pass
    return QuietTqdm


class AuthorsCode:
    """The authors' modules, loaded once, with one clean API (see the module docstring)."""

    def __init__(self, root):
        self.root = root
        self.draw_figures = True
        self.mods = m = _import_their_modules(root)
        m['config'].yaml = _SafeYaml
        self._pristine = copy.deepcopy(m['config'].config)
        for name in ('function1', 'function2'):
            m[name].tqdm = _quiet_tqdm()
        self.workdir = tempfile.mkdtemp(prefix='authors_run_')
        for sub in ('scripts', 'data', 'output', 'log'):
            os.makedirs(os.path.join(self.workdir, sub))
        self.data_dir = os.path.join(self.workdir, 'data')

    def close(self):
        shutil.rmtree(self.workdir, ignore_errors=True)

    def clear_data(self):
        """Empty their ../data folder.  Their dataset writes the per-frame evaluation
        factors there only when the file is absent, and their validate reads it: a file
        left by another data set would be used silently."""
        shutil.rmtree(self.data_dir, ignore_errors=True)
        os.makedirs(self.data_dir)

    # --- config -------------------------------------------------------------
    def config_from_yaml(self, path, overrides=None):
        """A fresh copy of their defaults updated from one of their YAMLs (their own
        ``update_config``), then ``overrides`` {'SECTION.KEY': value}; NUM_WORKERS 0,
        PRINT_INFO off."""
        mod = self.mods['config']
        mod.config = copy.deepcopy(self._pristine)
        try:
            mod.update_config(path)
            cfg = mod.config
        finally:
            mod.config = copy.deepcopy(self._pristine)
        cfg.NUM_WORKERS = 0
        cfg.PRINT_INFO = False
        for key, value in (overrides or {}).items():
            node = cfg
            *sections, last = key.split('.')
            for s in sections:
                node = node[s]
            if last not in node:
                raise KeyError('their config has no key %s' % key)
            node[last] = value
        return cfg

    # --- running their code ---------------------------------------------------
    @contextlib.contextmanager
    def running(self):
        """Their working directory and the run-time shims, undone on exit."""
        from mpl_toolkits.mplot3d import Axes3D
        patches = []

        def patch(obj, name, value):
            had = name in vars(obj)
            patches.append((obj, name, vars(obj).get(name), had))
            setattr(obj, name, value)
        for alias, typ in (('float', float), ('int', int)):
            if alias not in vars(np):
                patch(np, alias, typ)
        for ax in ('x', 'y', 'z'):
            if not hasattr(Axes3D, 'w_%saxis' % ax):
                patch(Axes3D, 'w_%saxis' % ax, property(lambda self, a=ax: getattr(self, a + 'axis')))
        if not torch.cuda.is_available():
            patch(torch.Tensor, 'cuda', lambda self, *a, **k: self)
            patch(torch.nn.Module, 'cuda', lambda self, *a, **k: self)
        if not self.draw_figures:
            for name in ('function1', 'function2'):
                patch(self.mods[name], 'vis_joints', lambda joints: np.zeros((8, 8, 3), np.uint8))
        cwd = os.getcwd()
        os.chdir(os.path.join(self.workdir, 'scripts'))
        try:
            yield self
        finally:
            os.chdir(cwd)
            for obj, name, old, had in reversed(patches):
                if had:
                    setattr(obj, name, old)
                else:
                    delattr(obj, name)

    def build_models(self, cfg):
        """(pose model, pose discriminator, temporal discriminator) as their main.py builds them."""
        mm = self.mods['model']
        with self.running():
            return (mm.get_pose_model(cfg), mm.get_discriminator(cfg, is_temp=False),
                    mm.get_discriminator(cfg, is_temp=True))

    def optimizers(self, cfg, pose_model, D, Dt):
        """Their three Adam optimisers (``get_optimizer``)."""
        get = self.mods['utils'].get_optimizer
        return (get(cfg, pose_model, is_dis=False), get(cfg, D, is_dis=True),
                get(cfg, Dt, is_dis=True, is_temp=True))

    def train(self, cfg, loader, models, optimizers, epoch=0, summary_writer=None):
        """One epoch of their ``train`` (function2 with USE_CYCLE, else function1), as main.py."""
        fn = self.mods['function2' if cfg.TRAIN.USE_CYCLE else 'function1'].train
        with self.running():
            return fn(loader, *models, *optimizers, epoch, cfg, summary_writer=summary_writer)

    def validate(self, cfg, loader, pose_model, epoch=0):
        """Their ``validate`` (function2's; function1's is the same for H36M):
        (P1, P2, figure, scale_mids, extra)."""
        with self.running():
            return self.mods['function2'].validate(loader, pose_model, epoch, cfg)

    def dataset(self, cfg, is_train=True):
        """Their ``Human36MDataset`` on ``cfg.DATA.TRAIN_PATH`` / ``VALID_PATH``.  It writes
        pickles under ../data (the temporary folder) and, when the file lacks ``seqname``,
        adds the sequence keys to the h5 file itself: pass a copy."""
        with self.running():
            return self.mods['h36m'].Human36MDataset(cfg, is_train=is_train)

    def p_mpjpe(self, pred, gt):
        """Their P-MPJPE of one batch (mean over the batch's frames and joints)."""
        return self.mods['utils'].p_mpjpe(pred, gt)

    @property
    def loss(self):
        return self.mods['loss']


def load_authors_code(path=None):
    """Load the authors' code (see :func:`find_authors_dir`) or raise a one-line UserError."""
    root = find_authors_dir(path)
    if root is None:
        raise UserError('the authors\' code is not found', path or os.environ.get(ENV_VAR) or DEFAULT_DIR,
                        'put their release at ../shared/original beside the repository or set %s'
                        % ENV_VAR)
    return AuthorsCode(root)



@contextlib.contextmanager
def _in_folder(path, argv):
    cwd, old_argv = os.getcwd(), sys.argv
    os.chdir(path)
    sys.argv = list(argv)
    try:
        yield
    finally:
        os.chdir(cwd)
        sys.argv = old_argv


def their_scale_mids(h5_path, script='validate_project.py', prefix='mpi', mode='train', path=None):
    """Run one of the authors' scripts that computed their scale prior on ``h5_path`` and
    return its per-frame ``(scales, scale_mids)`` (N,) from the script's own variables.

    * ``validate_project.py`` (Human3.6M): reads ``../../unsupervised_mesh/data/
      h36m_valid_pred_3d_mesh.h5`` (keys ``joint_2d_gt``, ``joint_3d_pre``, ``joint_3d_gt``,
      ours joint order, metres) and a factor pickle it then replaces by 0.680019; one 2D factor
      for the whole file;
    * ``mpi_validate_project.py --prefix P --mode M``: reads ``../data/P_M_pred3.h5`` (MPI joint
      order for ``mpi``, 3D in millimetres); each frame's 2D divided by its own head-root length.

    The script runs as it is (``runpy``) with the working directory in a temporary folder laid
    out as it expects, so every file it reads or writes is there."""
    import pickle
    import runpy
    root = find_authors_dir(path)
    if root is None:
        raise UserError('the authors\' code is not found', path or DEFAULT_DIR, 'see load_authors_code')
    tmp = tempfile.mkdtemp(prefix='their_scale_')
    try:
        scripts = os.path.join(tmp, 'a', 'scripts')
        for d in (scripts, os.path.join(tmp, 'a', 'data'), os.path.join(tmp, 'unsupervised_mesh', 'data')):
            os.makedirs(d)
        argv = [script]
        if script == 'validate_project.py':
            shutil.copyfile(h5_path, os.path.join(tmp, 'unsupervised_mesh', 'data', 'h36m_valid_pred_3d_mesh.h5'))
            with open(os.path.join(tmp, 'a', 'data', 'h36m_test_factor_3d.pkl'), 'wb') as f:
                pickle.dump(0.680019, f)
        else:
            shutil.copyfile(h5_path, os.path.join(tmp, 'a', 'data', '%s_%s_pred3.h5' % (prefix, mode)))
            argv += ['--prefix', prefix, '--mode', mode]
        with _in_folder(scripts, argv), contextlib.redirect_stdout(open(os.devnull, 'w')):
            g = runpy.run_path(os.path.join(root, 'scripts', script), run_name='__main__')
        return np.asarray(g['scales']).reshape(-1), np.asarray(g['scale_mids']).reshape(-1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
