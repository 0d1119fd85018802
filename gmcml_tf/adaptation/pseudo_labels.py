"""Pseudo-labels for unlabelled photos, and the label-free check against collapse.

- Clustering-refined labels (SHOT, Liang et al. 2020, §3.2): class centroids in the
  L2-normalised descriptor space, weighted by the classifier's probabilities, then by hard
  labels; each photo takes its nearest centroid (cosine). Only classes the classifier
  gives to at least `min_share` of the photos get a centroid: a folder holds a few of the
  run's classes, and a centroid made of stray probability mass only steals photos.
- Class-balanced selection (CBST, Zou et al. 2018, §3.2): in each class the most confident
  `fraction` of its photos, so a frequent class does not crowd out the rest and no single
  threshold favours the classes the model is surest of.
- Collapse (the failure of self-training on an unbalanced folder): the predictions drift
  onto one class until it dominates. Measured against the unadapted model's own
  predictions, without labels.
"""
from __future__ import annotations

import numpy as np


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def restrict_probs(probs: np.ndarray, allowed: list[int] | None) -> np.ndarray:
    """Probabilities renormalised over the classes the photos may show (all when None)."""
    if allowed is None:
        return probs
    out = np.zeros_like(probs)
    out[:, allowed] = probs[:, allowed]
    return out / np.maximum(out.sum(1, keepdims=True), 1e-12)


def cluster_labels(probs: np.ndarray, descriptors: np.ndarray, min_share: float = 0.02,
                   iterations: int = 2, temperature: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(labels (N,), the classes that had a centroid) for probabilities (N, K) and descriptors (N, D).

    temperature 0: each photo takes its nearest centroid (SHOT). temperature T > 0: the label
    maximises log p(c | photo) + cos(photo, centroid c) / T, the classifier's probability times
    a von Mises-Fisher likelihood of the photo under class c's cluster, so a photo the classifier
    is sure of keeps its class unless its cluster says otherwise strongly."""
    n, k = probs.shape
    f = _normalise(descriptors.astype(np.float64))
    counts = np.bincount(probs.argmax(1), minlength=k)
    labelset = np.flatnonzero(counts >= max(1, min_share * n))
    if labelset.size == 0:
        labelset = np.flatnonzero(counts)
    weights = probs[:, labelset].astype(np.float64)
    labels = probs.argmax(1)
    prior = np.log(np.maximum(probs[:, labelset].astype(np.float64), 1e-12)) if temperature > 0 else 0.0
    for _ in range(iterations):
        centroids = _normalise(weights.T @ f / np.maximum(weights.sum(0)[:, None], 1e-12))
        similarity = f @ centroids.T
        labels = labelset[np.argmax(prior + similarity / temperature if temperature > 0 else similarity, axis=1)]
        hard = (labels[:, None] == labelset[None]).astype(np.float64)
        weights = np.where(hard.sum(0) > 0, hard, weights)   # an emptied class keeps its soft centroid
    return labels, labelset


def targets(labels: np.ndarray, k: int, smoothing: float, teacher: np.ndarray | None = None) -> np.ndarray:
    """Soft targets (N, k) for pseudo-labels (N,): 1 - smoothing on the label, and the smoothing
    mass spread uniformly (teacher None) or over the other classes in proportion to the
    unadapted model's probabilities `teacher` (N, k). The teacher's spread keeps each photo's
    runner-up classes in their order: a hard label (or a uniform spread) pushes them all down
    alike, which let a motorbike photo labelled "bicycle" lose motorbike to any other class
    (docs/adaptation.md)."""
    n = len(labels)
    hot = np.zeros((n, k), np.float32)
    hot[np.arange(n), labels] = 1.0
    if teacher is None:
        return hot * (1.0 - smoothing) + smoothing / k
    rest = np.where(hot > 0, 0.0, teacher).astype(np.float64)
    total = rest.sum(1, keepdims=True)
    rest = np.where(total > 1e-12, rest / np.maximum(total, 1e-12), (1.0 - hot) / max(1, k - 1))
    return (hot * (1.0 - smoothing) + smoothing * rest).astype(np.float32)


def select_balanced(labels: np.ndarray, confidence: np.ndarray, fraction: float,
                    agree_with: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask: in every class the ceil(fraction * n_c) photos of highest confidence; with
    `agree_with` (the classifier's argmax), only those whose label it matches — unless none
    does, when the selection stands unfiltered (a round needs photos to learn from)."""
    keep = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        top = members[np.argsort(-confidence[members], kind="stable")][: int(np.ceil(fraction * len(members)))]
        keep[top] = True
    if agree_with is None:
        return keep
    both = keep & (labels == agree_with)
    return both if both.any() else keep


def mode(settings: dict) -> str:
    """The --pseudo-labels value of recorded self-training settings; runs recorded before the
    `cluster` and `agree` keys learnt from every clustered label ("shot")."""
    return "agree" if settings.get("agree") else "shot" if settings.get("cluster", True) else "argmax"


def collapse(before: np.ndarray, after: np.ndarray, names: list[str], dominant: float = 0.5,
             grow: float = 0.2) -> str | None:
    """Why the predicted labels `after` have collapsed relative to `before`, or None: one class
    now takes at least `dominant` of the photos and `grow` more than it did. Classes losing
    photos is not collapse: the unadapted model spreads photos over classes they do not show
    (12-way predictions on a 5-class folder), and adapting rightly empties those."""
    b = np.bincount(before, minlength=len(names)) / max(1, len(before))
    a = np.bincount(after, minlength=len(names)) / max(1, len(after))
    top = int(np.argmax(a))
    if a[top] >= dominant and a[top] - b[top] >= grow:
        return f"{names[top]} grew from {b[top]:.0%} to {a[top]:.0%} of the photos"
    return None


def round_summary(labels: np.ndarray, selected: np.ndarray, confidence: np.ndarray,
                  previous: np.ndarray | None, class_names: list[str]) -> dict:
    """What a round changed: pseudo-labels and selections per class, their mean confidence,
    and the share of photos whose pseudo-label flipped since the last round."""
    per_class = {}
    for c in np.unique(labels):
        m = labels == c
        per_class[class_names[c]] = {"labelled": int(m.sum()), "selected": int((m & selected).sum()),
                                     "confidence": round(float(confidence[m].mean()), 4)}
    return {"selected": int(selected.sum()), "photos": int(len(labels)),
            "mean_confidence": round(float(confidence[selected].mean()), 4) if selected.any() else None,
            "flipped": None if previous is None else round(float(np.mean(previous != labels)), 4),
            "per_class": per_class}
