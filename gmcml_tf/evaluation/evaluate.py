"""Synthetic -> real evaluation (paper §VIII, docs/method.md §7): `gmcml-tf evaluate`.

Softmax accuracy, mean per-class accuracy (the VisDA-2017 convention: the mean over
the classes that have photos), per-class accuracy with n, the confusion matrix, and
nearest-neighbour accuracy on descriptors against a gallery of renders (paper §V).
Photos go through the same decoder and square fitting as the exported SavedModel.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from gmcml_tf.preprocess import decode_image, fit_to_square
from gmcml_tf.evaluation.real_photos import PhotoError, PhotoSet


def classification_metrics(y_true, y_pred, class_names: list[str]) -> dict:
    """Accuracy, mean per-class accuracy (classes with n > 0 only), per class, confusion."""
    y_true, y_pred = np.asarray(y_true, int), np.asarray(y_pred, int)
    k = len(class_names)
    confusion = np.zeros((k, k), int)
    np.add.at(confusion, (y_true, y_pred), 1)
    n = confusion.sum(1)
    per_class = {c: {"n": int(n[i]), "accuracy": (float(confusion[i, i] / n[i]) if n[i] else None)}
                 for i, c in enumerate(class_names)}
    present = [v["accuracy"] for v in per_class.values() if v["n"]]
    return {"accuracy": float(np.mean(y_true == y_pred)) if len(y_true) else None,
            "mean_per_class_accuracy": float(np.mean(present)) if present else None,
            "n": int(len(y_true)), "per_class": per_class,
            "confusion": {"labels": list(class_names), "matrix": confusion.tolist()}}


def restrict(logits: np.ndarray, present: list[int]) -> np.ndarray:
    """Argmax over the classes present in the test set only (--restrict-to-present)."""
    masked = np.full_like(logits, -np.inf)
    masked[:, present] = logits[:, present]
    return masked


def nearest_neighbour(query: np.ndarray, gallery: np.ndarray, gallery_labels: np.ndarray,
                      allowed: list[int] | None = None) -> np.ndarray:
    """Label of the closest gallery descriptor (squared Euclidean, as in eq. 5-6)."""
    if allowed is not None:
        keep = np.isin(gallery_labels, allowed)
        gallery, gallery_labels = gallery[keep], gallery_labels[keep]
    q = tf.constant(query, tf.float32)
    g = tf.constant(gallery, tf.float32)
    d = (tf.reduce_sum(q * q, 1, keepdims=True) - 2 * tf.matmul(q, g, transpose_b=True)
         + tf.reduce_sum(g * g, 1)[None])
    return gallery_labels[tf.argmin(d, axis=1).numpy()]


def photo_dataset(photos: PhotoSet, image_size: int, fit: str, batch_size: int = 32) -> tf.data.Dataset:
    """(index, image) batches; an undecodable photo is dropped here and reported by the caller."""
    paths = [p.path for p in photos.photos]
    boxes = [p.box if p.box else (-1.0, -1.0, -1.0, -1.0) for p in photos.photos]

    def load(i, path, box):
        image = decode_image(tf.io.read_file(path))
        image = tf.cond(box[0] >= 0, lambda: _crop(image, box), lambda: image)
        return i, fit_to_square(image, image_size, fit)

    ds = tf.data.Dataset.from_tensor_slices((tf.range(len(paths)), paths,
                                             tf.constant(boxes, tf.float32)))
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.ignore_errors().batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _why_undecodable(path: str) -> str:
    """The reason a photo was dropped by `photo_dataset`, for the report (header only)."""
    from gmcml_tf.preprocess import header_problem
    return header_problem(path) or "undecodable image: truncated or corrupt"


def _crop(image, box):
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    x1 = tf.clip_by_value(box[0], 0.0, shape[1] - 1)
    y1 = tf.clip_by_value(box[1], 0.0, shape[0] - 1)
    x2 = tf.clip_by_value(box[2], x1 + 1, shape[1])
    y2 = tf.clip_by_value(box[3], y1 + 1, shape[0])
    ix = tf.cast(tf.stack([y1, x1, y2 - y1, x2 - x1]), tf.int32)
    return tf.image.crop_to_bounding_box(image, ix[0], ix[1], tf.maximum(ix[2], 1), tf.maximum(ix[3], 1))


def run_model(model, batches, keep_images: int = 0, flip: bool = False, progress: str | None = None,
              total: int | None = None, score=None) -> dict:
    """Logits, descriptors (and the first `keep_images` inputs and reconstructions) of batches
    of (index, image) or dicts with "image"/"label"; `flip`: gmcml_tf.inference.predict.
    `progress`: a bar with that label on a terminal (none in logs and pipes); `score`: a
    reconstruction.ReconstructionScore fed with M' of renders (dicts with "alpha")."""
    from tqdm import tqdm
    from gmcml_tf.inference import predict
    out = {"index": [], "logits": [], "descriptor": [], "label": [], "image": [], "reconstruction": []}
    kept = 0

    @tf.function(reduce_retracing=True)
    def infer(x):
        return predict(model, x, flip)

    for batch in tqdm(batches, desc=progress, total=total, unit="batch", leave=False,
                      disable=None if progress else True):
        if isinstance(batch, dict):
            x = batch["image"]
            out["label"].append(batch["label"].numpy())
        else:
            idx, x = batch
            out["index"].append(idx.numpy())
        y = infer(x)
        out["logits"].append(tf.cast(y["logits"], tf.float32).numpy())
        out["descriptor"].append(tf.cast(y["descriptor"], tf.float32).numpy())
        if score is not None and y.get("reconstruction") is not None and isinstance(batch, dict):
            score.update(tf.cast(y["reconstruction"], tf.float32).numpy(), batch["alpha"].numpy(),
                         batch["label"].numpy())
        if kept < keep_images:
            first = x if x.shape.rank == 4 else x[:, 0]  # the first view of several fittings
            out["image"].append(first.numpy()[: keep_images - kept])
            if y.get("reconstruction") is not None:
                out["reconstruction"].append(
                    tf.cast(y["reconstruction"], tf.float32).numpy()[: keep_images - kept])
            kept += len(out["image"][-1])
    return {k: np.concatenate(v) if v else np.zeros((0,)) for k, v in out.items()}


def gallery(model, data_dir: str, image_size: int, limit: int = 3000, split: str = "val",
            skip_corrupt: bool = False, colors=None) -> dict:
    """Descriptors of rendered views (file order, the first `limit`) for NN evaluation, the
    shards `skip_corrupt` left out ("skipped_shards": path -> why), and with the class
    `colors` how good M' is on them ("reconstruction": gmcml_tf.evaluation.reconstruction)."""
    from gmcml_tf.evaluation.reconstruction import ReconstructionScore
    from gmcml_tf.data import make_dataset
    from gmcml_tf.data.pipeline import corrupt_records_named
    from gmcml_tf.data.shards import open_split
    ds = make_dataset(data_dir, split, image_size=image_size, batch_size=64, training=False,
                      skip_corrupt=skip_corrupt)
    with corrupt_records_named(data_dir, (split,)):
        score = ReconstructionScore(colors) if colors is not None else None
        out = run_model(model, ds.take(-(-limit // 64)), progress="gallery (renders)",
                        total=-(-limit // 64), score=score)
    # the split's check, as make_dataset just did it (cached)
    return {**out, "skipped_shards": open_split(data_dir, split, skip_corrupt=skip_corrupt).skipped,
            "reconstruction": score.result() if score is not None else None}


def evaluate_and_save(run, photos: PhotoSet, out_json: str | Path | None = None, **kwargs):
    """`evaluate` plus what every caller keeps: the JSON (default RUN/evaluation/real.json),
    the figures beside it, and the same figures in RUN/tensorboard/evaluate."""
    from gmcml_tf.evaluation.plots import to_tensorboard
    from tfrecords_tools.writer import write_json_atomic
    out = Path(out_json) if out_json else Path(run.path) / "evaluation" / "real.json"
    result = evaluate(run, photos, plots_dir=out.parent, **kwargs)
    write_json_atomic(out, result)
    to_tensorboard(Path(run.path) / "tensorboard" / "evaluate", result["plots"])
    return result, out


def adaptation_check(run_path, paths: list[str]) -> dict | None:
    """For an adapted run: how many of the evaluated photos it adapted on, by content hash
    (a copied or renamed photo is still the same photo); None for a run never adapted."""
    from gmcml_tf.adaptation.photos import adapted_hashes, content_hash
    from gmcml_tf.training.workdir import adaptation_of
    record = adaptation_of(run_path)
    if record is None:
        return None
    seen = set(adapted_hashes(run_path))
    n = sum(content_hash(p) in seen for p in paths)
    return {"seen": n, "of": len(paths), "method": record.get("method", "adabn"),
            "photos": record.get("photos"), "images": record.get("images")}


def evaluate(run, photos: PhotoSet, *, gallery_dir: str | None = None,
             restrict_to_present: bool = False, fit: str | None = None, batch_size: int = 32,
             plots_dir: str | Path | None = None, skip_corrupt: bool | None = None,
             flip: bool | None = None) -> dict:
    """Real-photo metrics of `run`; `skip_corrupt` (default: the run's train.skip_corrupt)
    leaves corrupt gallery shards out instead of stopping with the shard's name."""
    cfg, model = run.config, run.model
    size, fit = cfg.model.image_size, fit or run.fit
    flip = run.flip if flip is None else flip
    res = run_model(model, photo_dataset(photos, size, fit, batch_size), keep_images=16, flip=flip,
                    progress="real photos", total=-(-len(photos.photos) // batch_size))
    ok = res["index"].astype(int)
    skipped = {photos.photos[i].path: _why_undecodable(photos.photos[i].path)
               for i in sorted(set(range(len(photos.photos))) - set(ok))}
    if not len(ok):
        first, why = next(iter(skipped.items()))
        raise PhotoError(f"{photos.source}: none of the {len(photos.photos)} photos could be decoded "
                         f"(e.g. {first}: {why})")
    y_true = np.array([photos.photos[i].label for i in ok], int)
    present = sorted(set(y_true.tolist()))
    logits = restrict(res["logits"], present) if restrict_to_present else res["logits"]
    result = classification_metrics(y_true, logits.argmax(1), run.class_names)
    if not restrict_to_present:  # also the paper-like view: every test class present
        r = classification_metrics(y_true, restrict(res["logits"], present).argmax(1), run.class_names)
        result["present_classes_only"] = {k: r[k] for k in ("accuracy", "mean_per_class_accuracy")}
        result["present_classes_only"]["per_class"] = {c: v["accuracy"] for c, v in r["per_class"].items() if v["n"]}
    adapted = adaptation_check(run.path, [photos.photos[i].path for i in ok])
    if adapted:  # photos the run learnt from score it: said beside every number
        result["adapted" if adapted["seen"] == 0 else "transductive"] = adapted
    result.update({"source": photos.source, "fit": fit, "flip": flip,
                   "restrict_to_present": restrict_to_present,
                   "skipped": {**photos.skipped, **skipped}, "unmapped_folders": photos.unmapped,
                   "classes": list(run.class_names), "classes_without_photos": photos.classes_without_photos,
                   "val_split": run.val_split, "image_size": size, "workdir": str(run.path)})
    gal_dir = gallery_dir or cfg.train.data
    skip = cfg.train.skip_corrupt if skip_corrupt is None else skip_corrupt
    gal = gallery(model, gal_dir, size, skip_corrupt=skip, colors=run.classes.colors)
    nn = nearest_neighbour(res["descriptor"], gal["descriptor"], gal["label"].astype(int),
                           present if restrict_to_present else None)
    result["nn_accuracy"] = float(np.mean(nn == y_true)) if len(y_true) else None
    result["gallery"] = {"dir": str(gal_dir), "split": "val", "n": int(len(gal["label"])),
                         "skipped_shards": gal["skipped_shards"]}
    result["reconstruction_on_renders"] = gal["reconstruction"]
    if plots_dir is not None:
        from gmcml_tf.evaluation import plots
        result["plots"] = plots.write_all(Path(plots_dir), result, res, gal, y_true, run.class_names)
    return result
