"""How good M' is, in numbers: its silhouette and its colour, on renders (which have masks).

The target M (docs/method.md §2) is black where there is no object and the class's colour
times a shading factor in [0.25, 1] on the object, the colour's brightest channel being 1;
so every object pixel of M has a largest channel of at least 0.25 and the background 0.
Two numbers per render:

- silhouette IoU: M' is thresholded halfway between the two, a pixel is "object" where its
  largest channel is at least 0.125 (SILHOUETTE_THRESHOLD); the true silhouette is the render's
  alpha ≥ 0.5. IoU = |both| / |either| (1 when both are empty).
- hue as a class guess: M' averaged over the true silhouette, assigned to the class whose
  shading ray (colour × s, s in [0.25, 1]) passes nearest; a hit when that is the render's class.

Real photos have no masks: there `reconstructions.png` remains the check.
"""
from __future__ import annotations

import numpy as np

from tfrecords_tools.classes import MASK_SHADING_FLOOR

SILHOUETTE_THRESHOLD = MASK_SHADING_FLOOR / 2   # halfway between M's background and its darkest object pixel
ALPHA_THRESHOLD = 0.5


def nearest_ray(px: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """Index of the class whose colour, scaled by a shading factor in [0.25, 1], is nearest."""
    c = np.asarray(colors, np.float64)
    s = np.clip(px @ c.T / (c * c).sum(1), MASK_SHADING_FLOOR, 1.0)                 # (P, N)
    d = ((px[:, None, :] - s[..., None] * c[None]) ** 2).sum(-1)
    return d.argmin(1)


def silhouette_iou(m_pred: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(B,) IoU of M' (B, H, W, 3) thresholded against alpha (B, H, W[, 1])."""
    pred = np.asarray(m_pred, np.float32).max(-1) >= SILHOUETTE_THRESHOLD
    true = np.asarray(alpha, np.float32).reshape(pred.shape) >= ALPHA_THRESHOLD
    inter = (pred & true).sum((1, 2))
    union = (pred | true).sum((1, 2))
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def hue_hits(m_pred: np.ndarray, alpha: np.ndarray, labels: np.ndarray, colors) -> np.ndarray:
    """(B,) bool: M''s mean colour over the true silhouette names the render's class."""
    m = np.asarray(m_pred, np.float64)
    a = np.asarray(alpha, np.float64).reshape(m.shape[:3] + (1,))
    mean = (m * a).sum((1, 2)) / np.maximum(a.sum((1, 2)), 1e-9)
    return nearest_ray(mean, colors) == np.asarray(labels).reshape(-1)


class ReconstructionScore:
    """Running means of both numbers over batches."""

    def __init__(self, colors):
        self.colors = np.asarray(colors, np.float64)
        self.iou: list[np.ndarray] = []
        self.hue: list[np.ndarray] = []

    def update(self, m_pred, alpha, labels) -> None:
        self.iou.append(silhouette_iou(m_pred, alpha))
        self.hue.append(hue_hits(m_pred, alpha, labels, self.colors))

    def result(self) -> dict | None:
        if not self.iou:
            return None
        iou, hue = np.concatenate(self.iou), np.concatenate(self.hue)
        return {"silhouette_iou": float(iou.mean()), "hue_accuracy": float(hue.mean()), "n": int(len(iou)),
                "threshold": f"largest channel of M' >= {SILHOUETTE_THRESHOLD}; silhouette: alpha >= "
                             f"{ALPHA_THRESHOLD}", "chance_hue": 1 / len(self.colors)}


def score_batches(model, batches, colors) -> dict | None:
    """Both numbers over batches of {"image", "alpha", "label"} (None for a model without M')."""
    if getattr(model, "recon_net", None) is None:
        return None
    score = ReconstructionScore(colors)
    for batch in batches:
        rec = model.recon_net(batch["image"], training=False)["reconstruction"]
        score.update(np.asarray(rec, np.float32), batch["alpha"], batch["label"])
    return score.result()
