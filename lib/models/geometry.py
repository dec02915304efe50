"""Camera geometry of the rotation cycle (docs/ORIGINAL.md, "The rotation cycle").

Conventions: poses are row vectors (B, J, 3) in a camera frame (x right,
y down, z forward); a rotation R acts as ``Y @ R^T``.

* back-projection: z_j = max(1, d_j + c), Y_j = (x_j z_j, y_j z_j, z_j), c = 10
* forward rotation: R = Rz(psi) Rx(phi) Raz(theta), Raz about the tilted axis
  a = (-0.01474, 0.96402, 0.261718) (``USE_NEW_ROT``) or the camera y axis;
  T = R (Y - Y_root) + (0, 0, c)
* projection: p = clamp(T_xy / T_z, -0.2, 0.2) (+1e-5 for the fake D sample); the clamp
  is +-0.35 for MPI-INF-3DHP and +-0.25 for SURREAL (``lib.data.formats``)
* inverse (original): R' = Ry(-theta) Rx(-phi) Rz(-psi), always about the
  camera y axis, so R' is not R^-1 when the forward used the tilted axis, a quirk
  of the original (``COMPAT.INVERSE_ROT_TILTED_AXIS`` = True uses R^-1).
"""
import torch

TILTED_AXIS = (-0.01474, 0.96402, 0.261718)
PROJ_CLAMP = 0.2


def rot_x(a):
    c, s = torch.cos(a), torch.sin(a)
    o, z = torch.ones_like(a), torch.zeros_like(a)
    return torch.stack([o, z, z, z, c, -s, z, s, c], -1).reshape(*a.shape, 3, 3)


def rot_y(a):
    c, s = torch.cos(a), torch.sin(a)
    o, z = torch.ones_like(a), torch.zeros_like(a)
    return torch.stack([c, z, s, z, o, z, -s, z, c], -1).reshape(*a.shape, 3, 3)


def rot_z(a):
    c, s = torch.cos(a), torch.sin(a)
    o, z = torch.ones_like(a), torch.zeros_like(a)
    return torch.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(*a.shape, 3, 3)


def rot_axis(theta, axis):
    """Rodrigues: cos(t) I + (1 - cos t) a a^T + sin(t) [a]x (a used as given)."""
    a = torch.as_tensor(axis, dtype=theta.dtype, device=theta.device)
    ax, ay, az = a[0], a[1], a[2]
    zero = torch.zeros((), dtype=theta.dtype, device=theta.device)
    K = torch.stack([zero, -az, ay, az, zero, -ax, -ay, ax, zero]).reshape(3, 3)
    c, s = torch.cos(theta)[..., None, None], torch.sin(theta)[..., None, None]
    eye = torch.eye(3, dtype=theta.dtype, device=theta.device)
    return c * eye + (1 - c) * torch.outer(a, a) + s * K


def azimuth_rotation(theta, tilted=True, normalise_axis=False):
    """Raz(theta) (B, 3, 3): about the tilted axis (``USE_NEW_ROT``) or the camera y axis."""
    if tilted:
        axis = torch.tensor(TILTED_AXIS, dtype=theta.dtype, device=theta.device)
        if normalise_axis:
            axis = axis / axis.norm()
        return rot_axis(theta, axis)
    return rot_y(theta)


def forward_rotation(rot, tilted=True, normalise_axis=False):
    """rot (B, 3) = (theta, phi, psi) -> R (B, 3, 3) = Rz(psi) Rx(phi) Raz(theta)."""
    theta, phi, psi = rot[:, 0], rot[:, 1], rot[:, 2]
    return rot_z(psi) @ rot_x(phi) @ azimuth_rotation(theta, tilted, normalise_axis)


def elevation(up):
    """The camera's elevation seen from a body whose up direction is ``up`` (B, 3) in the camera
    frame: the angle of ``up`` in the camera's y-z plane, atan2(-up_z, -up_y), 0 for a body upright
    in the image, positive when the camera looks down on it.  A body seen from elevation e has
    up = (0, -cos e, -sin e); Rx(phi) turns that into elevation e + phi, exactly."""
    return torch.atan2(-up[..., 2], -up[..., 1])


def inverse_rotation(rot, R, exact=False):
    """The rotation used to undo R: the original's Ry(-t) Rx(-p) Rz(-s), or R^-1."""
    if exact:
        return torch.linalg.inv(R)
    theta, phi, psi = rot[:, 0], rot[:, 1], rot[:, 2]
    return rot_y(-theta) @ rot_x(-phi) @ rot_z(-psi)


def apply_rot(R, Y):
    """(B, 3, 3), (B, J, 3) -> (B, J, 3): each row vector times R^T, computed as the
    original, (R Y^T)^T."""
    return (R @ Y.transpose(1, 2)).transpose(1, 2)


def back_project(x, d, c=10.0):
    """2D (B, J, 2) and depth offsets (B, J) -> 3D (B, J, 3) with z = max(1, d + c)."""
    z = torch.clamp(d + c, min=1.0)
    return torch.cat([x * z[..., None], z[..., None]], dim=-1)


def project(T, clamp=PROJ_CLAMP, eps=0.0):
    """Perspective projection with the original's clamp: clamp(xy / z) + eps."""
    p = T[..., :2] / T[..., 2:3]
    return torch.clamp(p, -clamp, clamp) + eps
