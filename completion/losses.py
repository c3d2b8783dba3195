"""The geometry-preserving loss: a depth term, a gradient-matching term and a surface-normal term.

With ``V`` the pixels whose ground truth is valid (``gt > 0``), ``e = pred - gt`` and weights from `LossConfig`::

    L = w_depth * mean_V rho(e)                   rho = |e| (L1), Huber(e; delta) or |e| + e^2 (L1+L2)
      + w_grad  * (mean_{Vx} |dx(pred) - dx(gt)| + mean_{Vy} |dy(pred) - dy(gt)|)
      + w_normal * mean_{Vn} (1 - <n(pred), n(gt)>)

``dx(z)[v, u] = z[v, u + 1] - z[v, u]`` (``dy`` likewise down the rows); ``Vx`` / ``Vy`` are the pixel pairs with
both ends valid. Normals come from the metric depth through the intrinsics: each pixel is back-projected to
``X(u, v) = z * ((u - cx) / fx, (v - cy) / fy, 1)``, ``a = X(u + 1, v) - X(u, v)``, ``b = X(u, v + 1) - X(u, v)``,
``n = (b x a) / |b x a|`` (pointing towards the camera). ``Vn`` are the pixels whose ground truth is valid at
``(u, v)``, ``(u + 1, v)`` and ``(u, v + 1)``. Each mean pools all such pixels of the batch; a term with no pixel is 0.
All terms are in metres except the normal term (dimensionless, 1 - cos of the angle between normals).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812

from completion.errors import ConfigError, ShapeError

__all__ = ["DEPTH_LOSSES", "GeometryLoss", "LossConfig", "depth_normals", "geometry_loss"]


#: Forms of the depth term (`LossConfig.depth_loss`).
DEPTH_LOSSES = ("l1", "huber", "l1+l2")


@dataclass(frozen=True, kw_only=True)
class LossConfig:
    """Weights and form of the geometry-preserving loss.

    Attributes:
        depth_loss: ``"l1"``, ``"huber"`` or ``"l1+l2"`` (|e| + e^2 in metres, NLSPN's loss: the square weighs the
            metre-sized misses that dominate RMSE) for the depth term.
        huber_delta_m: Huber threshold in metres (quadratic below, linear above; ``torch`` smooth-L1 form).
        depth_weight: weight of the depth term.
        grad_weight: weight of the gradient-matching term.
        normal_weight: weight of the surface-normal term (the paper's lambda_n).
        max_prefill_error_m: when > 0 and the prefill is passed, pixels where ``|prefill - gt|`` exceeds this
            are left out of every term: errors no local evidence explains (a wrapped iToF echo that passed the
            sensor's check, a ray through a window), which would otherwise teach the network metre-sized
            corrections it then invents on other frames. 0 keeps every valid pixel.
    """

    depth_loss: str = "l1"
    huber_delta_m: float = 0.05
    depth_weight: float = 1.0
    grad_weight: float = 0.5
    normal_weight: float = 0.1
    max_prefill_error_m: float = 0.0

    def __post_init__(self) -> None:
        if self.depth_loss not in DEPTH_LOSSES:
            raise ConfigError(f"depth_loss must be one of {', '.join(DEPTH_LOSSES)}, got {self.depth_loss!r}")
        if self.huber_delta_m <= 0:
            raise ConfigError(f"huber_delta_m must be > 0, got {self.huber_delta_m}")
        for name in ("depth_weight", "grad_weight", "normal_weight", "max_prefill_error_m"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LossConfig:
        """Build from a dict (e.g. a TOML table), rejecting unknown keys.

        Raises:
            ConfigError: for an unknown key (the message lists the valid ones) or a bad value.
        """
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise ConfigError(f"unknown loss option(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
        return cls(**values)


def _check(pred: torch.Tensor, gt: torch.Tensor, K: torch.Tensor) -> None:  # noqa: N803
    if pred.ndim != 4 or pred.shape[1] != 1:
        raise ShapeError(f"pred: expected shape (B, 1, H, W), got {tuple(pred.shape)}")
    if gt.shape != pred.shape:
        raise ShapeError(f"gt has shape {tuple(gt.shape)} but pred has shape {tuple(pred.shape)}; they must match")
    if K.shape != (pred.shape[0], 3, 3):
        raise ShapeError(f"K: expected shape ({pred.shape[0]}, 3, 3), got {tuple(K.shape)}")


def _backproject(depth_m: torch.Tensor, K: torch.Tensor) -> torch.Tensor:  # noqa: N803
    """(B, 1, H, W) z-depth -> (B, 3, H, W) camera-frame points in metres."""
    b, _, h, w = depth_m.shape
    u = torch.arange(w, dtype=depth_m.dtype, device=depth_m.device).view(1, 1, 1, w)
    v = torch.arange(h, dtype=depth_m.dtype, device=depth_m.device).view(1, 1, h, 1)
    fx, fy = K[:, 0, 0].view(b, 1, 1, 1), K[:, 1, 1].view(b, 1, 1, 1)
    cx, cy = K[:, 0, 2].view(b, 1, 1, 1), K[:, 1, 2].view(b, 1, 1, 1)
    x = (u - cx) / fx * depth_m
    y = (v - cy) / fy * depth_m
    return torch.cat([x, y.expand_as(x), depth_m], dim=1)


def depth_normals(depth_m: torch.Tensor, K: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:  # noqa: N803
    """Unit surface normals from z-depth through the intrinsics (forward differences, pointing to the camera).

    Args:
        depth_m: (B, 1, H, W) z-depth in metres.
        K: (B, 3, 3) intrinsics.
        eps: guards the normalisation of degenerate (zero-area) pixels.

    Returns:
        (B, 3, H - 1, W - 1) normals; entry ``[:, :, v, u]`` uses pixels (u, v), (u + 1, v) and (u, v + 1).
    """
    p = _backproject(depth_m, K)
    a = p[:, :, :-1, 1:] - p[:, :, :-1, :-1]  # along +u
    b = p[:, :, 1:, :-1] - p[:, :, :-1, :-1]  # along +v
    n = torch.linalg.cross(b, a, dim=1)
    return n / n.norm(dim=1, keepdim=True).clamp_min(eps)


def _masked_mean(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    return (x * m).sum() / m.sum().clamp_min(1.0)


def geometry_loss(
    pred: torch.Tensor,
    gt: torch.Tensor,
    K: torch.Tensor,  # noqa: N803
    cfg: LossConfig | None = None,
    *,
    prefill: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The geometry-preserving loss (equations in the module docstring).

    Args:
        pred: (B, 1, H, W) predicted z-depth in metres.
        gt: (B, 1, H, W) ground-truth z-depth in metres, 0 (or non-finite) where invalid.
        K: (B, 3, 3) intrinsics of each image (after any crop / flip).
        cfg: weights and form; default `LossConfig()`.
        prefill: (B, 1, H, W) the fill the network corrects; with ``cfg.max_prefill_error_m > 0`` pixels whose
            prefill error exceeds it count as invalid ground truth.

    Returns:
        total: scalar tensor (float32, or float64 for float64 input; differentiable w.r.t. `pred`).
        terms: dict ``depth``, ``grad``, ``normal`` of the unweighted terms (scalar tensors).

    Raises:
        ShapeError: if the shapes do not match.

    Example:
        >>> z = torch.full((1, 1, 4, 5), 2.0)
        >>> K = torch.tensor([[[5.0, 0, 2], [0, 5.0, 1.5], [0, 0, 1]]])
        >>> total, terms = geometry_loss(z + 0.1, z, K)
        >>> round(float(terms["depth"]), 4), float(terms["grad"]), float(terms["normal"])
        (0.1, 0.0, 0.0)
    """
    cfg = cfg or LossConfig()
    _check(pred, gt, K)
    dtype = torch.promote_types(pred.dtype, torch.float32)  # float16 (autocast) is computed in float32
    pred = pred.to(dtype)
    K = K.to(dtype)  # noqa: N806
    valid = torch.isfinite(gt) & (gt > 0)
    if prefill is not None and cfg.max_prefill_error_m > 0:
        valid = valid & ((prefill.to(dtype) - gt.to(dtype)).abs() <= cfg.max_prefill_error_m)
    gt = torch.where(valid, gt.to(dtype), torch.zeros_like(pred))
    vf = valid.float()

    err = pred - gt
    if cfg.depth_loss == "l1":
        rho = err.abs()
    elif cfg.depth_loss == "l1+l2":
        rho = err.abs() + err.square()
    else:
        rho = F.smooth_l1_loss(pred, gt, reduction="none", beta=cfg.huber_delta_m)
    depth_term = _masked_mean(rho, vf)

    vx = vf[..., :, 1:] * vf[..., :, :-1]
    vy = vf[..., 1:, :] * vf[..., :-1, :]
    gx = (err[..., :, 1:] - err[..., :, :-1]).abs()
    gy = (err[..., 1:, :] - err[..., :-1, :]).abs()
    grad_term = _masked_mean(gx, vx) + _masked_mean(gy, vy)

    vn = vf[..., :-1, :-1] * vf[..., :-1, 1:] * vf[..., 1:, :-1]
    cos = (depth_normals(pred, K) * depth_normals(gt, K)).sum(dim=1, keepdim=True)
    normal_term = _masked_mean(1.0 - cos, vn)

    total = cfg.depth_weight * depth_term + cfg.grad_weight * grad_term + cfg.normal_weight * normal_term
    return total, {"depth": depth_term, "grad": grad_term, "normal": normal_term}


class GeometryLoss(torch.nn.Module):
    """`nn.Module` twin of `geometry_loss`: stores the config, calls the function.

    Example:
        >>> loss = GeometryLoss(LossConfig(normal_weight=0.0))
    """

    def __init__(self, cfg: LossConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or LossConfig()

    def forward(
        self,
        pred: torch.Tensor,
        gt: torch.Tensor,
        K: torch.Tensor,  # noqa: N803
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """See `geometry_loss`."""
        return geometry_loss(pred, gt, K, self.cfg)
