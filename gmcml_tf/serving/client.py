"""`gmcml-tf predict`: top-k classes per image, from a SavedModel in-process or a server over HTTP.

Both paths send the encoded file bytes to `serving_default` and read back
`probabilities` and the class names, so their answers agree to float precision.
"""
from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from tfrecords_tools.errors import UserError


class PredictError(UserError):
    """A bad image file, model path or server answer; the message names it."""


def read_images(paths: list[str], max_pixels: int | None = None) -> list[bytes]:
    """The bytes of each file, checked as the model will decode them: one the SavedModel
    decodes (JPEG, PNG, GIF, BMP, WebP), within the pixel limit from its header alone
    (a decompression bomb is refused unread), and complete (a full decode, not truncated)."""
    from gmcml_tf.preprocess import MAX_PIXELS, ImageError, image_header
    out = []
    for p in paths:
        try:
            data = Path(p).read_bytes()
        except FileNotFoundError:
            raise PredictError(f"{p}: no such file") from None
        except OSError as e:
            raise PredictError(f"{p}: cannot read it ({e.strerror or e.__class__.__name__})") from None
        try:
            image_header(data, max_pixels or MAX_PIXELS)
        except ImageError as e:
            raise PredictError(f"{p}: {e}") from None
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()  # header passed the pixel limit: decoding is bounded
        except UnidentifiedImageError:
            raise PredictError(f"{p}: not an image file (JPEG, PNG, GIF, BMP, WebP ...)") from None
        except Exception as e:  # PIL decoding untrusted bytes: truncated, corrupt, ...
            raise PredictError(f"{p}: unreadable image, truncated or corrupt ({e.__class__.__name__}: {e})") from None
        out.append(data)
    return out


def top_k(classes, scores, k: int) -> list[list[dict]]:
    """From the `classes` / `scores` outputs (best first) to [{class, probability}] per image."""
    return [[{"class": c.decode() if isinstance(c, bytes) else c, "probability": round(float(p), 6)}
             for c, p in zip(cs[:k], ps[:k])] for cs, ps in zip(classes, scores)]


def one_shot_graphs() -> None:
    """Run graphs as traced, without Grappler's rewrites, in this process: for a process that
    calls a SavedModel once or twice. The rewrites cost ~0.7 s at the first call of the 112²
    model (bench predict) and the calls after it were no slower without them; a server keeps
    them. Process-wide: TensorFlow has no per-function switch."""
    import tensorflow as tf
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


def predict_local(model_dir: str, images: list[bytes], k: int = 3,
                  one_shot: bool = False) -> list[list[dict]]:
    """Top-k classes of each image from the SavedModel at `model_dir` (NAME or NAME/VERSION),
    in this process; `one_shot` (the `predict` command) calls `one_shot_graphs` first."""
    import tensorflow as tf
    if one_shot:
        one_shot_graphs()
    from gmcml_tf.serving.repository import NotFound, load_servable, version_dir
    try:
        servable = load_servable(version_dir(model_dir))
    except NotFound as e:
        raise PredictError(str(e)) from None
    try:
        out = servable.signatures["serving_default"](images=tf.constant(images, tf.string))
    except tf.errors.InvalidArgumentError as e:  # what the PIL checks of read_images let through
        from gmcml_tf.preprocess import error_message
        raise PredictError(f"the model cannot decode {'an' if len(images) > 1 else 'the'} image: "
                           f"{error_message(e)}") from None
    return top_k(out["classes"].numpy().tolist(), out["scores"].numpy().tolist(), k)


def predict_http(server: str, model_name: str, images: list[bytes], k: int = 3,
                 version: int | None = None, timeout: float = 60.0) -> list[list[dict]]:
    import httpx
    base = f"{server.rstrip('/')}/v1/models/{model_name}"
    if version:
        base += f"/versions/{version}"
    body = {"signature_name": "serving_default",
            "instances": [{"b64": base64.b64encode(b).decode()} for b in images]}
    try:
        resp = httpx.post(f"{base}:predict", json=body, timeout=timeout)
    except httpx.HTTPError as e:
        raise PredictError(f"{server}: {e}") from None
    if resp.status_code != 200:
        raise PredictError(f"{resp.request.url}: HTTP {resp.status_code}: {_error_text(resp)}")
    preds = resp.json()["predictions"]
    return top_k([p["classes"] for p in preds], [p["scores"] for p in preds], k)


def _error_text(r) -> str:
    try:
        return r.json().get("error", r.text)
    except ValueError:
        return r.text[:200]
