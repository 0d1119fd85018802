"""Figures of an evaluation: confusion matrix, PCA/ICA of descriptors (paper Fig. 5, 11),
reconstructions M' of real photos (Fig. 12). PNG files, and the same images in TensorBoard."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfrecords_tools.writer import as_open_would  # noqa: E402


def _save(fig, path: Path) -> str:
    """Atomic PNG write: a half-written figure is never left behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=path.parent)
    os.close(fd)
    as_open_would(tmp)
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return str(path)


def confusion(matrix, labels: list[str], path: Path, title: str) -> str:
    m = np.asarray(matrix, float)
    rows = m.sum(1, keepdims=True)
    frac = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    n = len(labels)
    side = max(6.0, 0.32 * n + 2.5)   # about a third of an inch a class: 40 classes stay legible
    fig, ax = plt.subplots(figsize=(side + 1, side))
    ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    counts = 7 if n <= 15 else 6 if n <= 30 else 5
    for i in range(n):
        for j in range(n):
            if m[i, j]:
                ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=counts,
                        color="white" if frac[i, j] > 0.5 else "black")
    ticks = 8 if n <= 30 else 7
    ax.set_xticks(range(n), labels, rotation=60, ha="right", fontsize=ticks)
    ax.set_yticks(range(n), labels, fontsize=ticks)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return _save(fig, path)


def projections(render_desc, render_labels, photo_desc, photo_labels, labels, path: Path) -> str:
    """PCA and ICA 2-D projections fitted on renders and photos together (paper Fig. 11)."""
    from sklearn.decomposition import PCA, FastICA
    x = np.concatenate([render_desc, photo_desc]).astype(np.float64)
    n_r = len(render_desc)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, (name, algo) in zip(axes, [("PCA", PCA(2, random_state=0)),
                                       ("ICA", FastICA(2, random_state=0, max_iter=1000))]):
        z = algo.fit_transform(x)
        cmap = plt.get_cmap("tab20")
        for c in sorted(set(np.concatenate([render_labels, photo_labels]).tolist())):
            r = render_labels == c
            p = photo_labels == c
            ax.scatter(z[:n_r][r, 0], z[:n_r][r, 1], s=6, marker="o", color=cmap(c), alpha=0.35)
            ax.scatter(z[n_r:][p, 0], z[n_r:][p, 1], s=14, marker="x", color=cmap(c),
                       label=labels[c])
        ax.set_title(f"{name} of descriptors: renders (o), real photos (x)")
        ax.legend(fontsize=7, markerscale=1.5)
    return _save(fig, path)


def reconstructions(images, recons, path: Path) -> str:
    """Rows: real photo O | its reconstruction M' (paper Fig. 12)."""
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.2 * n, 2.6), squeeze=False)
    for i in range(n):
        for row, arr in enumerate((images, recons)):
            axes[row, i].imshow(np.clip(arr[i], 0, 1))
            axes[row, i].axis("off")
    axes[0, 0].set_title("O", fontsize=8, loc="left")
    axes[1, 0].set_title("M'", fontsize=8, loc="left")
    return _save(fig, path)


def write_all(out: Path, result: dict, photos: dict, gallery: dict, y_true, labels) -> dict:
    paths = {"confusion": confusion(result["confusion"]["matrix"], labels, out / "confusion.png",
                                    f"real photos: accuracy {result['accuracy']:.3f}, "
                                    f"mean per class {result['mean_per_class_accuracy']:.3f}")}
    if len(gallery["descriptor"]) >= 3 and len(photos["descriptor"]) >= 3:
        paths["projections"] = projections(gallery["descriptor"], gallery["label"].astype(int),
                                           photos["descriptor"], y_true, labels,
                                           out / "projections.png")
    if len(photos["reconstruction"]):
        paths["reconstructions"] = reconstructions(photos["image"], photos["reconstruction"],
                                                   out / "reconstructions.png")
    return paths


def to_tensorboard(logdir: Path, paths: dict, step: int = 0) -> None:
    """The evaluation figures as TensorBoard images (tab IMAGES, tags eval/<name>)."""
    import tensorflow as tf
    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        for name, p in paths.items():
            img = tf.io.decode_png(tf.io.read_file(p), channels=3)[None]
            tf.summary.image(f"eval/{name}", img, step=step)
    writer.flush()


def training_curves(curve: list[dict], path: Path) -> str:
    """Loss terms (left) and the coupled noise ratios R_rec, R_cls with Var(M')/Var(M)
    (right, paper Fig. 8f-h) against the step; stage starts dashed, the first step where
    R_rec rises through R_cls marked. `curve`: history.json's "curve" entries."""
    steps = np.array([c["step"] for c in curve])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.2))
    for term in ("enc", "gen", "pair", "tri", "softmax"):
        values = np.array([c.get(f"loss/{term}", 0.0) for c in curve])
        if np.any(values > 0):
            ax.plot(steps, values, label=f"L_{term}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title("loss terms of eq. (11) (running means per epoch)")
    r_rec = np.array([c.get("noise/r_rec", 0.0) for c in curve])
    r_cls = np.array([c.get("noise/r_cls", 0.0) for c in curve])
    bx.plot(steps, r_rec, label="R_rec")
    bx.plot(steps, r_cls, label="R_cls")
    bx.plot(steps, [c.get("noise/variance_ratio", 0.0) for c in curve], label="Var(M')/Var(M)", alpha=0.6)
    above = (r_rec >= r_cls) & (r_cls > 0)
    crossed = np.flatnonzero(above[1:] & ~above[:-1]) + 1  # R_rec rises through R_cls
    if len(crossed):
        bx.axvline(steps[crossed[0]], color="k", lw=0.8)
        bx.annotate(f"R_rec = R_cls at step {steps[crossed[0]]}", (steps[crossed[0]], 0.9), fontsize=8)
    bx.set_ylim(0, 1.05)
    bx.set_xlabel("step")
    bx.set_title("coupled adaptive noise (eq. 9)")
    for axis in (ax, bx):
        starts = [c["step"] for prev, c in zip(curve, curve[1:]) if c["stage"] != prev["stage"]]
        for s in starts:
            axis.axvline(s, color="grey", ls="--", lw=0.6)
        axis.legend(fontsize=8)
    return _save(fig, Path(path))


def ablation_bars(rows: dict, path: Path, paired: dict | None = None, reference: str | None = None) -> str:
    """The ablation table as bars with error bars (std over seeds): synthetic val accuracy,
    real mean per-class (all classes) and real mean per-class over the present classes; with a
    reference, a second panel of each row minus the reference, paired by seed, with 95 % intervals."""
    metrics = [("synthetic_val_accuracy", "synthetic val acc."),
               ("real_mean_per_class_accuracy", "real mean per-class, all classes"),
               ("real_present_mean_per_class_accuracy", "real mean per-class, present classes")]
    names = list(rows)
    x = np.arange(len(names))
    width = 0.8 / len(metrics)
    panels = 2 if paired else 1
    fig, axes = plt.subplots(panels, 1, figsize=(max(6, 1.2 * len(names) + 2), 4.6 * panels), squeeze=False)
    ax = axes[0, 0]
    for i, (key, label) in enumerate(metrics):
        cells = [rows[n].get(key) for n in names]
        means = [100 * c["mean"] if c else 0.0 for c in cells]
        stds = [100 * c["std"] if c else 0.0 for c in cells]
        ax.bar(x + (i - (len(metrics) - 1) / 2) * width, means, width, yerr=stds, capsize=3, label=label)
    ax.set_xticks(x, [_row_label(n) for n in names], fontsize=7)
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.set_title("ablations: mean ± std over seeds")
    if paired:
        _paired_panel(axes[1, 0], paired, reference, metrics)
    fig.tight_layout()
    return _save(fig, Path(path))


def _row_label(name: str) -> str:
    # a lever row is NAME:KEY=VALUE[:...]: one switch per line, a long one broken at its dots,
    # keeps neighbouring labels apart
    return "\n".join(p.replace(".", ".\n") if len(p) > 14 else p for p in name.split(":"))


def _paired_panel(ax, paired: dict, reference: str, metrics) -> None:
    names = list(paired)
    x = np.arange(len(names))
    width = 0.8 / len(metrics)
    for i, (key, label) in enumerate(metrics):
        cells = [paired[n].get(key) for n in names]
        means = [100 * c["mean"] if c else 0.0 for c in cells]
        err = np.array([[100 * (c["mean"] - c["low"]), 100 * (c["high"] - c["mean"])]
                        if c and c["low"] is not None else [0.0, 0.0] for c in cells]).T.reshape(2, -1)
        ax.bar(x + (i - (len(metrics) - 1) / 2) * width, means, width, yerr=err, capsize=3, label=label)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, [_row_label(n) for n in names], fontsize=7)
    ax.set_ylabel("points")
    ax.legend(fontsize=8)
    ax.set_title(f"minus {reference}, paired by seed: mean and 95 % paired-t interval")
