"""A learned 2D pose prior: a normalizing flow on the training split's 2D poses (new; a structure
candidate of docs/STRUCTURE_STUDY.md, ``TRAIN.FLOW_WEIGHT``).

Before training, a flow is fitted by maximum likelihood to the training split's 2D poses exactly
as the lifter and the discriminator see them (``TensorSplit.pose_2d``: normalised, root-relative),
with the root's two constant coordinates left out (32 numbers), projected on their
``TRAIN.FLOW_PCA_DIMS`` leading principal components and whitened (as ElePose, Wandt et al.
CVPR 2022, fits its flow on PCA coordinates: the smallest components are nearly constant, and a
flow fitted on them gives needle-sharp densities).  During training the flow is frozen and its
negative log-likelihood of the rotated projections (``out.proj_2d``, the discriminator's fake
samples) is a generator loss, beside the discriminator or, with ``TRAIN.USE_DIS: false``, instead
of it.  The NLL is that of the (softly bounded, see ``COORD_BOUND``) whitened PCA coordinates.

The flow is zuko's MAF (affine masked autoregressive flow).  zuko over nflows and FrEIA: zuko is
maintained (1.6.0, 2026; nflows' last release is 0.14 of 2020, FrEIA's 0.2 of 2022), small, pure
PyTorch, and has autoregressive flows, whose log-likelihood (the direction training needs) costs
one network pass per transform.  MAF over zuko's NSF (spline) flow: fitted on the benchmark's
35k training poses (salsa), NSF took 5-7x as long per step (one CPU thread, batch 512) and gave
held-out poses no better an NLL (held-out salsa frames 25.6 against MAF's 24.7, the test split's
martial poses 66.5 against 65.8; a Gaussian on the same coordinates: 35.2 and 62.1).

zuko is an optional dependency (requirements-flow.txt), imported only when the prior is on.
The fitted flow is saved in the run folder (``flow_prior.pth.tar``), so that ``--resume`` loads it
instead of fitting again; the fit draws from its own seeded generator and leaves the global RNG
alone, so a resumed run repeats an uninterrupted one.
"""
import functools
import math
import os
import time

import torch
import torch.nn as nn

from lib.models.checkpoint import load_checkpoint, save_checkpoint
from lib.utils.errors import UserError

FILE = 'flow_prior.pth.tar'
FIT_BATCH = 512           # poses per fitting step
NLL_REPORT_POSES = 8192   # training poses whose mean NLL the fit reports
# Bounds that keep the NLL of poses far from the training poses finite and its gradient sane (the
# lifts' projections early in training are such poses).  Without them zuko's MAF, fitted on the
# benchmark's poses, gave the rotated projections of a fresh lifter a mean NLL of 4e9 (median 1e4)
# and a gradient norm on the lifter of 1e12 (the discriminator term's: 0.02); with them 1.2e3
# (median 370) and 3e4, while the held-out real poses' NLL stayed as it was (25).
COORD_BOUND = 5.0         # PCA coordinates enter the flow as 5 tanh(c / 5): within the training range
AFFINE_SLOPE = 0.1        # each affine transform's scale stays in [0.1, 10] (|log scale| < 2.3), as the
                          # coupling blocks of ElePose's flow (FrEIA) softly clamp theirs


def require_zuko():
    """The zuko module, or a one-line error naming requirements-flow.txt."""
    try:
        import zuko
    except ImportError:
        raise UserError('TRAIN.FLOW_WEIGHT > 0 needs the normalizing-flow library zuko, which is not installed',
                        'requirements-flow.txt', 'pip install -r requirements-flow.txt, or set TRAIN.FLOW_WEIGHT: 0'
                        ) from None
    return zuko


class PosePrior(nn.Module):
    """Whitened PCA coordinates of a 2D pose (root left out) and a zuko MAF on them."""

    def __init__(self, root, dims, transforms, hidden, joints=17):
        super().__init__()
        zuko = require_zuko()
        self.keep = [j for j in range(joints) if j != root]
        n = 2 * len(self.keep)
        self.register_buffer('mean', torch.zeros(n))
        self.register_buffer('proj', torch.zeros(n, dims))     # principal axes / sqrt(variance)
        affine = functools.partial(zuko.transforms.MonotonicAffineTransform, slope=AFFINE_SLOPE)
        self.flow = zuko.flows.MAF(dims, transforms=transforms, hidden_features=[hidden, hidden], univariate=affine)

    def coords(self, x):
        """(B, J, 2) -> (B, dims) whitened PCA coordinates, softly bounded to +-COORD_BOUND."""
        v = x[:, self.keep].reshape(x.shape[0], -1)
        return COORD_BOUND * torch.tanh((v - self.mean) @ self.proj / COORD_BOUND)

    def set_pca(self, v, dims):
        """Mean and whitening projection of the (N, 2(J-1)) poses ``v`` (float64 for the eigenvectors)."""
        v = v.double()
        mean = v.mean(0)
        var, axes = torch.linalg.eigh(torch.cov((v - mean).T))
        var, axes = var.flip(0)[:dims].clamp(min=1e-12), axes.flip(1)[:, :dims]
        self.mean.copy_(mean.float())
        self.proj.copy_((axes / var.sqrt()).float())

    def nll(self, x):
        """Per-pose negative log-likelihood (B,) of 2D poses x (B, J, 2), in fp32 (outside autocast)."""
        with torch.autocast(x.device.type, enabled=False):
            return -self.flow().log_prob(self.coords(x.float()))


def settings(cfg, pose_2d, root):
    """What the fitted flow depends on: the fit's keys, the seed, the root and the data (its size
    and sum); a cached flow is reused only when these are the same."""
    t = cfg.TRAIN
    return {'pca_dims': int(t.FLOW_PCA_DIMS), 'transforms': int(t.FLOW_TRANSFORMS), 'hidden': int(t.FLOW_HIDDEN),
            'steps': int(t.FLOW_FIT_STEPS), 'lr': float(t.FLOW_FIT_LR), 'seed': int(cfg.RANDOM_SEED),
            'root': int(root), 'poses': int(pose_2d.shape[0]), 'data_sum': float(pose_2d.double().sum())}


def fit(cfg, pose_2d, root):
    """Fit the prior to the (N, J, 2) training poses; returns (prior, train NLL, seconds).

    Adam with a cosine learning-rate decay over ``FLOW_FIT_STEPS`` steps of ``FIT_BATCH`` poses
    drawn with replacement.  Everything random (the flow's initial weights, the batches) comes
    from a generator seeded with ``RANDOM_SEED``, inside ``fork_rng``: the global RNG states are
    as before."""
    t = cfg.TRAIN
    t0 = time.time()
    with torch.random.fork_rng(devices=[pose_2d.device] if pose_2d.device.type == 'cuda' else []):
        torch.manual_seed(int(cfg.RANDOM_SEED))
        prior = PosePrior(root, int(t.FLOW_PCA_DIMS), int(t.FLOW_TRANSFORMS), int(t.FLOW_HIDDEN),
                          pose_2d.shape[1]).to(pose_2d.device)
        prior.set_pca(pose_2d[:, prior.keep].reshape(pose_2d.shape[0], -1), int(t.FLOW_PCA_DIMS))
        z = prior.coords(pose_2d).detach()
        opt = torch.optim.Adam(prior.flow.parameters(), lr=float(t.FLOW_FIT_LR))
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, int(t.FLOW_FIT_STEPS))
        g = torch.Generator(device=pose_2d.device).manual_seed(int(cfg.RANDOM_SEED))
        for _ in range(int(t.FLOW_FIT_STEPS)):
            idx = torch.randint(0, z.shape[0], (FIT_BATCH,), generator=g, device=z.device)
            loss = -prior.flow().log_prob(z[idx]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    freeze(prior)
    with torch.no_grad():
        step = max(1, z.shape[0] // NLL_REPORT_POSES)
        train_nll = float(-prior.flow().log_prob(z[::step]).mean())
    return prior, train_nll, time.time() - t0


def freeze(prior):
    prior.eval()
    for p in prior.parameters():
        p.requires_grad_(False)
    return prior


def prepare(cfg, pose_2d, root, out_dir, resume, say, write=True):
    """The prior of a training run: loaded from ``out_dir/flow_prior.pth.tar`` when resuming and
    the file was fitted with the same settings, else fitted (and saved when ``write``).  Returns
    (prior, info): info holds the fit's seconds (those of the original fit when loaded) and its
    training NLL, for results.json."""
    want = settings(cfg, pose_2d, root)
    path = os.path.join(out_dir, FILE)
    if resume and os.path.isfile(path):
        saved = load_checkpoint(path, map_location=pose_2d.device)
        if saved.get('settings') == want:
            t = cfg.TRAIN
            prior = PosePrior(root, want['pca_dims'], int(t.FLOW_TRANSFORMS), int(t.FLOW_HIDDEN),
                              pose_2d.shape[1]).to(pose_2d.device)
            prior.load_state_dict(saved['state_dict'])
            info = {'prior_fit_seconds': saved['fit_seconds'], 'prior_train_nll': saved['train_nll']}
            say('flow prior: loaded %s (fitted in %.1f s, train NLL %.3f)' % (path, saved['fit_seconds'],
                                                                             saved['train_nll']))
            return freeze(prior), info
        say('flow prior: %s was fitted with other settings or data: fitting again' % path)
    prior, nll, seconds = fit(cfg, pose_2d, root)
    say('flow prior: zuko MAF (%d transforms, hidden %d) on %d PCA dims of %d training poses, %d steps: '
        'train NLL %.3f, %.1f s' % (want['transforms'], want['hidden'], want['pca_dims'], want['poses'],
                                    want['steps'], nll, seconds))
    if write:
        save_checkpoint({'state_dict': prior.state_dict(), 'settings': want, 'fit_seconds': seconds,
                         'train_nll': nll}, path)
    return prior, {'prior_fit_seconds': seconds, 'prior_train_nll': nll}


def gaussian_nll(dims):
    """The mean NLL of the training poses' whitened PCA coordinates (unit variance by construction)
    under a standard normal, 0.5 * dims * (1 + log(2 pi)): the reference a fitted flow beats."""
    return 0.5 * dims * (1 + math.log(2 * math.pi))
