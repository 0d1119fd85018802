"""SavedModel export in TF Serving's layout: `saved_models/NAME/N/` (paper §VI test mode).

Two signatures, preprocessing inside the graph so clients send raw images:
- `serving_default`: `images`, a string tensor of encoded JPEG/PNG bytes (TF Serving's
  REST API carries them as {"b64": ...});
- `predict_images`: `images`, float32 (N, H, W, 3) in [0, 1], any H and W.
Both return `probabilities` (N, 12), `class_id` int64, `class_name` string,
`classes` / `scores` (every class name and probability, best first), `descriptor` and,
for models with a reconstruction net, `reconstruction` (M' as uint8 RGB). The graph runs
the test mode of docs/method.md §6, cls(ren(map(O)), O): dropout and the adaptive noise
are off; with `flip` the scores average the image and its mirror (gmcml_tf.inference).
Class names live in the graph and in `assets.extra/gmcml.json` beside it.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from gmcml_tf.inference import predict
from gmcml_tf.preprocess import decode_image, fit_modes, fit_to_square
from gmcml_tf.errors import ExportError  # noqa: F401  (re-exported)
from gmcml_tf.serving.batching import BatchingParameters
from tfrecords_tools import folder_lock
from tfrecords_tools.writer import as_open_would

METADATA_FILE = "assets.extra/gmcml.json"
BATCHING_FILE = "batching_parameters.txt"   # beside the versions, TF Serving's text format
SIGNATURES = ("serving_default", "predict_images")


def next_version(base: Path) -> int:
    """TF Serving serves the highest integer folder; the next export gets one more."""
    versions = [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()] \
        if base.is_dir() else []
    return max(versions, default=0) + 1


def _outputs(model: keras.Model, images: tf.Tensor, class_names: tf.Tensor, flip: bool) -> dict:
    out = predict(model, images, flip)
    probabilities = tf.nn.softmax(tf.cast(out["logits"], tf.float32), axis=-1)
    class_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
    result = {"probabilities": probabilities, "class_id": class_id,
              "class_name": tf.gather(class_names, class_id),
              "descriptor": tf.cast(out["descriptor"], tf.float32)}
    # Every class, best first (TF Serving's classify convention): a REST client gets the
    # top-k with names without knowing the class list.
    order = tf.argsort(probabilities, axis=-1, direction="DESCENDING", stable=True)
    result["classes"] = tf.gather(class_names, order)
    result["scores"] = tf.gather(probabilities, order, batch_dims=1)
    if out.get("reconstruction") is not None:
        m = tf.clip_by_value(tf.cast(out["reconstruction"], tf.float32), 0.0, 1.0)
        result["reconstruction"] = tf.cast(tf.round(m * 255.0), tf.uint8)
    return result


def build_archive(model: keras.Model, image_size: int, class_names: list[str],
                  fit: str = "stretch", flip: bool = False) -> keras.export.ExportArchive:
    views = len(fit_modes(fit))
    names = tf.constant(class_names)
    archive = keras.export.ExportArchive()
    archive.track(model)

    def from_bytes(images):
        decoded = tf.map_fn(lambda b: fit_to_square(decode_image(b), image_size, fit), images,
                            fn_output_signature=tf.TensorSpec(
                                [views] * (views > 1) + [image_size, image_size, 3], tf.float32))
        return _outputs(model, decoded, names, flip)

    def from_floats(images):
        return _outputs(model, fit_to_square(images, image_size, fit), names, flip)

    archive.add_endpoint("serving_default", from_bytes,
                         input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    archive.add_endpoint("predict_images", from_floats, input_signature=[
        tf.TensorSpec([None, None, None, 3], tf.float32, name="images")])
    return archive


def export(model: keras.Model, base: str | Path, *, image_size: int, class_names: list[str],
           fit: str = "stretch", flip: bool = False, version: int | None = None,
           metadata: dict | None = None,
           check_images: np.ndarray | None = None, tolerance: float = 1e-4,
           assets=None) -> dict:
    """Write `base/<version>/` atomically, reload it, and check it against the Keras model.

    `check_images` (N, S, S, 3) in [0, 1] (random ones by default) go through both the
    Keras model and the reloaded `predict_images`; the largest probability difference
    must stay within `tolerance`. `assets(version)` -> {path in the version: text}, extra files
    written with it (the model card). Returns a summary dict (path, version, size, check).
    """
    with folder_lock.hold(base):  # two exports would race for the same next version
        return _export(model, Path(base), image_size, class_names, fit, flip, version, metadata,
                       check_images, tolerance, assets or (lambda version: {}))


def _export(model, base: Path, image_size, class_names, fit, flip, version, metadata, check_images,
            tolerance, assets) -> dict:
    version = next_version(base) if version is None else int(version)
    if version < 1:
        raise ExportError(f"--version {version}: TF Serving versions are integers >= 1")
    final = base / str(version)
    if final.exists():
        raise ExportError(f"{final} exists: TF Serving versions are immutable; pick another --version")
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=base))
    as_open_would(tmp, directory=True)  # TF Serving may run as another user
    try:
        build_archive(model, image_size, class_names, fit, flip).write_out(str(tmp), verbose=False)
        meta = {"class_names": list(class_names), "image_size": image_size, "fit": fit, "flip": flip,
                "signatures": list(SIGNATURES), **(metadata or {})}
        (tmp / METADATA_FILE).parent.mkdir(parents=True, exist_ok=True)
        (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=2))
        # extra files (the model card), from the version chosen under the lock
        for name, text in assets(version).items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text(text)
        if check_images is None:
            check_images = np.random.default_rng(0).random((4, image_size, image_size, 3),
                                                           dtype=np.float32)
        diff = _check(model, tmp, check_images, fit, flip)
        if diff > tolerance:
            raise ExportError(f"{final}: reloaded SavedModel differs from the Keras model "
                              f"(max |dp| = {diff:.2e} > {tolerance:g}); nothing written")
        os.replace(tmp, final)  # a folder rename: TF Serving never sees a half-written version
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    size = sum(p.stat().st_size for p in final.rglob("*") if p.is_file())
    batching = base / BATCHING_FILE
    if not batching.exists():  # for TF Serving's --batching_parameters_file; a user's edit is kept
        BatchingParameters().write(batching)
    return {"path": str(final), "version": version, "size_mb": round(size / 2 ** 20, 2),
            "max_abs_probability_difference": diff, "image_size": image_size, "fit": fit, "flip": flip,
            "batching_parameters": str(batching)}


def export_run(run, base: str | Path, fit: str | None = None, version: int | None = None,
               flip: bool | None = None) -> dict:
    """Export a finished `gmcml-tf fit` run (gmcml_tf.training.workdir.Run), recording where it came from;
    `fit` and `flip` default to the run's eval section."""
    from gmcml_tf.serving import model_card
    cfg = run.config
    fit, flip = fit or run.fit, run.flip if flip is None else flip

    def card_files(version: int) -> dict[str, str]:
        card = model_card.build(run, {"version": version, "fit": fit, "flip": flip})
        return {model_card.CARD_JSON: json.dumps(card, indent=2), model_card.CARD_MD: model_card.markdown(card)}
    s = export(run.model, base, image_size=cfg.model.image_size, class_names=run.class_names,
               fit=fit, flip=flip, version=version,
               metadata={"workdir": str(run.path), "seed": cfg.train.seed,
                         "classes": run.classes.to_manifest(), "class_preset": run.classes.preset},
               assets=card_files)
    return {**s, "model_card": str(Path(s["path"]) / model_card.CARD_MD)}


def _check(model: keras.Model, path: Path, images: np.ndarray, fit: str = "stretch", flip: bool = False) -> float:
    loaded = tf.saved_model.load(str(path))
    got = loaded.signatures["predict_images"](images=tf.constant(images, tf.float32))
    fitted = fit_to_square(tf.constant(images, tf.float32), images.shape[1], fit)
    want = tf.nn.softmax(predict(model, fitted, flip)["logits"], axis=-1)
    return float(np.max(np.abs(got["probabilities"].numpy() - want.numpy())))


def read_metadata(version_dir: str | Path) -> dict:
    path = Path(version_dir) / METADATA_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ExportError(f"{path}: not a gmcml-tf export ({e})") from None
