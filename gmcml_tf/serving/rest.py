"""TF Serving's REST request and response formats, exactly (tensorflow.org/tfx/serving/api_rest).

Predict requests carry `instances` (row format: a list, one entry per example) or
`inputs` (columnar format), and optionally `signature_name`. Binary values travel
as {"b64": "..."}. Row requests are answered with {"predictions": [...]}: a list of
values when the signature has one output, a list of {output: value} objects
otherwise; columnar requests with {"outputs": ...}. Errors are {"error": "..."}.
Everything here is pure: the HTTP layer (app.py) maps `RequestError` to a status code.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

import numpy as np
import orjson
import tensorflow as tf

from gmcml_tf.preprocess import ImageError, image_header
from tfrecords_tools.errors import UserError

_DTYPES = {tf.float32: "DT_FLOAT", tf.string: "DT_STRING", tf.int64: "DT_INT64",
           tf.uint8: "DT_UINT8", tf.int32: "DT_INT32", tf.float16: "DT_HALF"}


class RequestError(UserError):
    """A client mistake; `status` is the HTTP code TF Serving would use (400 INVALID_ARGUMENT)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Limits:
    max_batch: int = 64
    max_pixels: int = 4096 * 4096        # per image, decoded (the SavedModel refuses > 8192²)
    max_body_bytes: int = 32 * 2 ** 20


def _tensor_info(spec: tf.TensorSpec, name: str) -> dict:
    dims = [{"size": str(-1 if d is None else d), "name": ""} for d in spec.shape]
    return {"dtype": _DTYPES.get(spec.dtype, f"DT_{spec.dtype.name.upper()}"),
            "tensor_shape": {"dim": dims, "unknown_rank": False}, "name": name}


def signature_def(fn) -> dict:
    inputs = fn.structured_input_signature[1]
    return {"inputs": {k: _tensor_info(s, f"{fn.name}_{k}:0") for k, s in inputs.items()},
            "outputs": {k: _tensor_info(s, f"StatefulPartitionedCall:{i}")
                        for i, (k, s) in enumerate(sorted(fn.structured_outputs.items()))},
            "method_name": "tensorflow/serving/predict"}


def model_status(states) -> dict:
    """TF Serving's GetModelStatus body from VersionState-like objects (version, state, error)."""
    return {"model_version_status": [
        {"version": str(s.version), "state": s.state,
         "status": {"error_code": "UNKNOWN" if s.error else "OK", "error_message": s.error}}
        for s in sorted(states, key=lambda s: -s.version)]}


def metadata(name: str, version: int, signatures: dict, classes: dict | None = None) -> dict:
    """TF Serving's GetModelMetadata body; `classes` (the export's class list) is added under
    metadata.gmcml_tf, a key TF Serving's clients ignore."""
    body = {"model_spec": {"name": name, "signature_name": "", "version": str(version)},
            "metadata": {"signature_def": {"signature_def": {
                k: signature_def(fn) for k, fn in sorted(signatures.items())}}}}
    if classes:
        body["metadata"]["gmcml_tf"] = classes
    return body


def _b64(value, where: str) -> bytes:
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise RequestError(f"{where}: binary values must be {{\"b64\": \"<base64 string>\"}}")
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(f"{where}: invalid base64 data") from None
    if isinstance(value, str):
        try:
            return value.encode()
        except UnicodeEncodeError:  # a lone surrogate ("\ud800") is valid JSON, not UTF-8
            raise RequestError(f"{where}: string is not valid UTF-8; send bytes as {{\"b64\": ...}}") from None
    raise RequestError(f"{where}: expected {{\"b64\": ...}} for a DT_STRING input, got {type(value).__name__}")


def _check_image_bytes(data: bytes, where: str, limits: Limits) -> None:
    """Header only: the format is one the SavedModel decodes and the size is within the limit."""
    try:
        image_header(data, limits.max_pixels)
    except ImageError as e:
        raise RequestError(f"{where}: {e}") from None


def _to_array(values: list, spec: tf.TensorSpec, where: str, limits: Limits) -> np.ndarray:
    if not isinstance(values, list) or not values:
        raise RequestError(f"{where}: expected a non-empty list of examples")
    if len(values) > limits.max_batch:
        raise RequestError(f"{where}: batch of {len(values)} is over the limit of {limits.max_batch}")
    if spec.dtype == tf.string:
        out = [_b64(v, f"{where}[{i}]") for i, v in enumerate(values)]
        for i, data in enumerate(out):
            _check_image_bytes(data, f"{where}[{i}]", limits)
        return np.array(out, dtype=object)
    try:
        arr = np.asarray(values, dtype=spec.dtype.as_numpy_dtype)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise RequestError(f"{where}: values must be a rectangular array of {spec.dtype.name} "
                           "(ragged lists or non-numbers)") from None
    if arr.ndim != spec.shape.rank:
        raise RequestError(f"{where}: expected rank {spec.shape.rank} {spec.shape}, got shape {list(arr.shape)}")
    for got, want in zip(arr.shape, spec.shape):
        if want is not None and got != want:
            raise RequestError(f"{where}: expected shape {spec.shape}, got {list(arr.shape)}")
    if arr.ndim == 4 and arr.shape[1] * arr.shape[2] > limits.max_pixels:
        raise RequestError(f"{where}: {arr.shape[2]}x{arr.shape[1]} pixels is over the limit")
    if not np.all(np.isfinite(arr)):
        raise RequestError(f"{where}: values must be finite numbers")
    return arr


def decode_body(raw: bytes):
    """The request body's JSON (any value; `parse_predict` checks its shape)."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise RequestError(f"JSON Parse error: {e}") from None
    except RecursionError:
        raise RequestError("JSON Parse error: nested too deeply") from None


def parse_predict(body, signatures: dict, limits: Limits) -> tuple[str, dict, bool]:
    """Request JSON -> (signature name, {input: array}, row format?)."""
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    unknown = set(body) - {"signature_name", "instances", "inputs"}
    if unknown:
        raise RequestError(f"unknown field(s) {sorted(unknown)}; expected instances or inputs")
    name = body.get("signature_name") or "serving_default"
    if not isinstance(name, str):
        raise RequestError(f"signature_name: expected a string, got {type(name).__name__}")
    if name not in signatures:
        raise RequestError(f"Serving signature name: \"{name}\" not found in signature def "
                           f"(available: {', '.join(sorted(signatures))})")
    specs = signatures[name].structured_input_signature[1]
    if ("instances" in body) == ("inputs" in body):
        raise RequestError("request must have exactly one of \"instances\" or \"inputs\"")
    row = "instances" in body
    data = body["instances"] if row else body["inputs"]
    if len(specs) == 1:
        (key, spec), = specs.items()
        if row and isinstance(data, list) and data and all(isinstance(d, dict) and key in d
                                                              for d in data):
            data = [d[key] for d in data]
        elif not row and isinstance(data, dict) and key in data:
            data = data[key]
        return name, {key: _to_array(data, spec, "instances" if row else "inputs", limits)}, row
    if row:
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise RequestError("instances: expected a list of objects, one key per input")
        data = {k: [d.get(k) for d in data] for k in specs}
    if not isinstance(data, dict) or set(data) != set(specs):
        raise RequestError(f"inputs: expected keys {sorted(specs)}")
    return name, {k: _to_array(data[k], specs[k], f"inputs.{k}", limits) for k in specs}, row


# dtypes orjson writes straight from the array buffer (float32 as its shortest round-trip
# decimal, so a client reads back the very float32 the model returned)
_NATIVE = {np.dtype(t) for t in ("float16", "float32", "float64", "int8", "int16", "int32", "int64",
                                 "uint8", "uint16", "uint32", "uint64", "bool")}


def _jsonable(arr: np.ndarray, name: str):
    if arr.dtype == object:  # DT_STRING: UTF-8 text, or base64 for names ending in _bytes
        if name.endswith("_bytes"):
            return np.vectorize(lambda b: {"b64": base64.b64encode(b).decode()}, otypes=[object])(arr).tolist()
        return np.vectorize(lambda b: b.decode("utf-8", "replace"), otypes=[object])(arr).tolist()
    if arr.dtype in _NATIVE:
        return np.ascontiguousarray(arr)
    return arr.tolist()


def encode_json(obj) -> bytes:
    """JSON bytes of a response whose numbers may be numpy arrays: orjson writes a 112x112x3
    float32 reconstruction in ~3 ms where json.dumps of its lists takes ~70 ms (2-core CPU)."""
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


def format_predict(outputs: dict, row: bool) -> dict:
    outputs = {k: v.numpy() if hasattr(v, "numpy") else np.asarray(v) for k, v in outputs.items()}
    cols = {k: _jsonable(v, k) for k, v in sorted(outputs.items())}
    if not row:
        return {"outputs": next(iter(cols.values())) if len(cols) == 1 else cols}
    if len(cols) == 1:
        return {"predictions": next(iter(cols.values()))}
    n = len(next(iter(cols.values())))
    return {"predictions": [{k: v[i] for k, v in cols.items()} for i in range(n)]}
