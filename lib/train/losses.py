"""Every loss of the method, one small function each (docs/ORIGINAL.md, "Losses and schedules").

Shapes: poses (B, J, C).  "Mean Euclidean" = mean over batch and joints of
the L2 norm of the per-joint difference (not squared, not L1), as the
original's ``loss_3d`` / ``loss_2d``.  Each is written with the original's
operations (square, sum, square root; bone vectors of all joints, then the 16
bones; the prior as plain numbers), so that values and gradients agree with it
to the last bit (tests/parity/test_parity.py).
"""
import torch

from lib.data.skeleton import BONE_CHILDREN, PARENTS
from lib.eval import criteria as C


def _euclid(d):
    """Per-joint Euclidean norm, computed as the original: sqrt(sum(d ** 2))."""
    return torch.sum(d ** 2, dim=-1).sqrt()


def loss_3d(a, b):
    """mean_{b,j} ||a_bj - b_bj||_2 over the first 3 channels.

    Given a (B, J) tensor (the FIX_TRAJ magnitude variant), the original slices
    its first 3 *joints*: mean_b ||a_b[:3] - b_b[:3]||.  That is kept here.
    """
    return _euclid(a[..., :3] - b[..., :3]).mean()


def loss_2d(a, b):
    """mean_{b,j} ||a_bj - b_bj||_2 over the first 2 channels."""
    return _euclid(a[..., :2] - b[..., :2]).mean()


def bone_vectors(X):
    """(B, 17, 3) -> (B, 16, 3): child minus parent for the 16 bones."""
    return (X - X[:, PARENTS])[:, BONE_CHILDREN]


def loss_bone(X, Y, mode='vectors'):
    """Bone consistency between two frames of one sequence (the "bone" of KL-bone).

    ``vectors`` (the original): mean over batch and bones of
    ||(X_j - X_p(j)) - (Y_j - Y_p(j))||, which also penalises limbs *rotating*
    between the two frames, not only changing length.  ``lengths`` (fix):
    mean |(||X_j - X_p(j)|| - ||Y_j - Y_p(j)||)|.  Both shrink with the pose: a
    scaler minimising them alone drives the scale to 0, and only the KL prior
    holds it.  ``log_lengths`` (new, scale-free): mean |log ||X_j - X_p(j)|| -
    log ||Y_j - Y_p(j)|||, the same for any common scale of X and Y, so the bone
    term constrains only the *relative* scale of the two frames and the prior
    alone the absolute one.
    """
    bx, by = bone_vectors(X), bone_vectors(Y)
    if mode == 'vectors':
        return _euclid(bx - by).mean()
    lx, ly = torch.norm(bx, dim=-1), torch.norm(by, dim=-1)
    if mode == 'log_lengths':
        return (torch.log(lx + 1e-8) - torch.log(ly + 1e-8)).abs().mean()
    return (lx - ly).abs().mean()


def loss_symmetry(X, eps=1e-8):
    """Left/right symmetry of one pose's limbs (new, ``TRAIN.SYMMETRY_WEIGHT``): the mean over
    batch and the six symmetric bone pairs (shin, thigh, pelvis half, forearm, upper arm,
    shoulder - thorax; ``lib.data.skeleton.SYMMETRIC_BONES``) of |log ||right|| - log ||left|||.
    Scale-free: the same for any scale of X, so it shapes proportions, never the size.  (The
    label-free criterion ``symmetry`` of lib/eval/criteria.py is the same measure.)"""
    return C.limb_log_ratios(X, eps).mean()


def loss_proportions(X, eps=1e-8):
    """Bone proportions shared by the batch (new, ``TRAIN.PROPORTION_WEIGHT``): each pose's 16 bone
    lengths as log shares of their sum, and the mean over batch and bones of the distance of each
    share from the batch's mean share (held fixed: every pose is pulled toward the batch's
    proportions).  A person's bones keep their lengths, so the lifts of a batch drawn from one or a
    few people should share their proportions (in the real motion capture the spread of these
    shares is about 1/50 of what an adversarially trained lift shows); a wrong depth lengthens or
    shortens one bone's 3D length against the others.  Scale-free and needs no data: the
    reference is the batch itself, not any dataset's skeleton."""
    log_share = C.log_bone_shares(X, eps)
    return (log_share - log_share.mean(0, keepdim=True).detach()).abs().mean()


def kl_criterion(mu1, sigma1, mu2, sigma2):
    """KL(N(mu1, sigma1^2) || N(mu2, sigma2^2))
    = log(sigma2 / sigma1) + (sigma1^2 + (mu1 - mu2)^2) / (2 sigma2^2) - 1/2."""
    return (torch.log(sigma2 / sigma1) + (sigma1 ** 2 + (mu1 - mu2) ** 2) / (2 * sigma2 ** 2) - 0.5)


def loss_kl_scale(scale_mid, prior_mean, prior_std, mean_only=False):
    """The "KL" of KL-bone: the batch of ``scale_mid`` values, seen as a Gaussian
    with the batch mean and the *unbiased* batch std, against the prior
    N(SCALE_MID_MEAN, SCALE_MID_STD^2).  Gradients flow through the batch
    statistics, so the loss shapes the whole batch's distribution, not each
    value.  ``mean_only``: (mu - prior_mean)^2 / (2 prior_std^2)."""
    v = scale_mid.reshape(-1)
    mu = v.mean()
    p_mu, p_sd = float(prior_mean), float(prior_std)
    if mean_only:
        return (mu - p_mu) ** 2 / (2 * p_sd ** 2)
    return kl_criterion(mu, v.std(unbiased=True), p_mu, p_sd)


def loss_tmc(out, out_nb, mode='as_written'):
    """Temporal motion consistency between a frame and its neighbour.

    ``as_written`` (the original): loss_3d(Y - Yn, Ytilde - Ytilde_n): the lifted
    motion in the *camera* frame against the reconstructed motion in the
    *rotated* frame, with no rotation between them (a quirk), so it is not zero
    for a consistent lifter unless R = I.  Fixes:
    ``rotate_motion``: loss_3d(R (Y - Yn), Ytilde - Ytilde_n);
    ``recovered`` (FIX_TRAJ_BY_ROT): loss_3d(Y - Yn, recovered - recovered_n);
    ``magnitude_first3`` (FIX_TRAJ alone): per-joint motion magnitudes, of
    which the original's loss_3d keeps only joints 0-2 (it slices the last axis
    to 3 entries, meant for x, y, z, and a (B, 17) tensor's last axis is the joints).
    """
    m = out.est_3d - out_nb.est_3d
    if mode == 'as_written':
        return loss_3d(m, out.recn_3d - out_nb.recn_3d)
    if mode == 'rotate_motion':
        return loss_3d(m @ out.R.transpose(1, 2), out.recn_3d - out_nb.recn_3d)
    if mode == 'recovered':
        return loss_3d(m, out.recovered_3d - out_nb.recovered_3d)
    if mode == 'magnitude_first3':
        return loss_3d(torch.norm(m, dim=-1), torch.norm(out.recn_3d - out_nb.recn_3d, dim=-1))
    raise ValueError(mode)


def lsgan_g(d_fake):
    """Generator side of the least-squares GAN: mean((D(fake) - 1)^2)."""
    return ((d_fake - 1) ** 2).mean()


def lsgan_d(d_real, d_fake):
    """Discriminator side: mean((D(real) - 1)^2) + mean(D(fake)^2)."""
    return ((d_real - 1) ** 2).mean() + (d_fake ** 2).mean()


def loss_supervised(pred, target):
    """The supervised reference: mean squared joint error of root-centred poses."""
    return ((pred - target) ** 2).sum(-1).mean()
