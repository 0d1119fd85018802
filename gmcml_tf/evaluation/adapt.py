"""`gmcml-tf adapt`: batch-norm statistics re-estimated on unlabelled photos (AdaBN).

Li et al. 2016 (AdaBN) and the "norm" step of TENT (Wang et al. 2021): a net trained on
renders normalises its features with the renders' statistics; photos have others.
Re-estimating every batch-norm layer's moving mean and variance on photos of the target
domain, with the weights untouched, needs no labels. The result is transductive — it
has seen the photos it may later be scored on — and evaluation reports it apart.

Each batch runs both nets in training mode (batch statistics) with dropout off and the
coder's z = mu, and every batch-norm layer's moving statistics become the running mean
of the batch statistics (momentum (k - 1) / k at batch k), so each photo counts the same.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import numpy as np

from gmcml_tf.evaluation.real_photos import PHOTO_SUFFIXES, PhotoError
from gmcml_tf.training.workdir import ADAPT_FILE, load_run
from tfrecords_tools.writer import write_json_atomic



def list_photos(folder: str | Path) -> list[str]:
    """Every image below `folder` (category sub-folders or flat; labels are not used)."""
    root = Path(folder)
    if not root.is_dir():
        raise PhotoError(f"photo folder {root} " + ("is a file" if root.exists() else "does not exist"))
    paths = sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
    if not paths:
        raise PhotoError(f"photo folder {root} has no images ({', '.join(sorted(PHOTO_SUFFIXES))})")
    return paths


@contextlib.contextmanager
def _statistics_mode(model):
    """Training-mode batch norm, nothing else random: dropout rates 0, z = mu."""
    import keras

    from gmcml_tf.models.variational_coder import Reparameterize
    layers = [layer for layer in model._flatten_layers()]
    saved = [(layer, layer.rate) for layer in layers if isinstance(layer, keras.layers.Dropout)]
    reparam = [layer for layer in layers if isinstance(layer, Reparameterize)]
    for layer, _ in saved:
        layer.rate = 0.0
    for layer in reparam:
        layer.sample = False
    try:
        yield [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    finally:
        for layer, rate in saved:
            layer.rate = rate
        for layer in reparam:
            layer.sample = True


def adapt_batch_norm(model, batches) -> int:
    """Set every batch-norm layer's moving statistics to those of `batches` (images);
    returns the number of images used."""
    with _statistics_mode(model) as norms:
        momenta = [layer.momentum for layer in norms]
        seen = 0
        try:
            for k, images in enumerate(batches, start=1):
                for layer in norms:
                    layer.momentum = (k - 1) / k
                model(images, training=True)
                seen += int(images.shape[0])
        finally:
            for layer, m in zip(norms, momenta):
                layer.momentum = m
    return seen


def adapt(workdir: str | Path, photos: str | Path, out: str | Path, batch_size: int = 64,
          seed: int = 0, fit: str | None = None) -> dict:
    """Write `out`: a copy of run `workdir` whose batch norms follow the photos in `photos`."""
    import tensorflow as tf

    from gmcml_tf.evaluation.evaluate import photo_dataset
    from gmcml_tf.evaluation.real_photos import Photo, PhotoSet
    out = Path(out)
    if out.exists():
        raise PhotoError(f"{out} exists; adapt writes a new run folder (pick another --out)")
    if batch_size < 8:
        raise PhotoError(f"--batch-size {batch_size}: batch statistics need at least 8 photos a batch")
    run = load_run(workdir)
    paths = list_photos(photos)
    order = np.random.default_rng(seed).permutation(len(paths))
    photo_set = PhotoSet(str(photos), [Photo(paths[i], 0, "") for i in order])
    fit = fit or run.fit
    # several fittings (stretch+crop): each view is one more image of the photo domain
    images = photo_dataset(photo_set, run.config.model.image_size, fit, batch_size).map(
        lambda i, x: tf.reshape(x, [-1, *x.shape[-3:]]))
    seen = adapt_batch_norm(run.model, images)
    if seen == 0:
        raise PhotoError(f"{photos}: none of the {len(paths)} images could be decoded")
    tmp = out.parent / f".{out.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        shutil.copy2(run.path / "config.yaml", tmp / "config.yaml")
        if (run.path / "classes.json").is_file():   # the run's class names go with it
            shutil.copy2(run.path / "classes.json", tmp / "classes.json")
        run.model.save(tmp / "model.keras")
        record = {"adapted_from": str(run.path), "photos": str(photos), "images": seen,
                  "undecodable": len(paths) - seen, "fit": fit, "batch_size": batch_size,
                  "seed": seed, "method": "AdaBN: batch-norm moving statistics re-estimated",
                  "transductive": True, "tensorflow": tf.__version__}
        write_json_atomic(tmp / ADAPT_FILE, record)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {**record, "workdir": str(out)}
