"""Property-based fuzz of the predict request decoder (hypothesis, derandomized for CI).

Whatever a client sends -- arbitrary bytes, arbitrary JSON, instances of the wrong
shape or type, huge integers, NaN, non-base64 strings, lone surrogates, unknown
signature names -- the decoder either parses it or raises `RequestError` with a 4xx
status; the real server on loopback never answers 5xx.
"""
from __future__ import annotations

import base64
import json

import httpx
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gmcml_tf.serving import rest
from serving_fixtures import SIZE, png_bytes, running_server, tiny_model
from tfrecords_tools.categories import CATEGORIES

_BASE = settings(derandomize=True, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.function_scoped_fixture])


def fuzz(examples: int) -> settings:
    """Derandomized (the same examples on every run and machine), no example database."""
    return settings(_BASE, max_examples=examples)
LIMITS = rest.Limits(max_batch=4, max_pixels=300 * 300, max_body_bytes=2 ** 20)


class _Sig:
    """What `parse_predict` reads of a concrete function: its input specs."""

    def __init__(self, **specs):
        self.structured_input_signature = ((), specs)


SIGNATURES = {
    "serving_default": _Sig(images=tf.TensorSpec([None], tf.string, name="images")),
    "predict_images": _Sig(images=tf.TensorSpec([None, None, None, 3], tf.float32, name="images")),
    "two_inputs": _Sig(images=tf.TensorSpec([None], tf.string), weights=tf.TensorSpec([None, 2], tf.float32)),
}

# ---- strategies --------------------------------------------------------------------------

_IMAGES = [png_bytes((20, 24, 3)), png_bytes((8, 8), mode="L"), png_bytes((400, 400, 3)),
           png_bytes((30, 30, 3))[:200], b"", b"GIF89a" + b"\xff" * 20]
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.floats(-2, 2, width=32),
    st.integers(), st.integers(min_value=10 ** 38, max_value=10 ** 400),   # float32 / float overflow
    st.booleans(), st.none())
json_values = st.recursive(
    st.one_of(numbers, st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=25)
b64_values = st.one_of(
    st.sampled_from(_IMAGES).map(lambda b: {"b64": base64.b64encode(b).decode()}),
    st.binary(max_size=64).map(lambda b: {"b64": base64.b64encode(b).decode()}),
    st.text(max_size=30).map(lambda t: {"b64": t}),                    # mostly not base64
    st.dictionaries(st.sampled_from(["b64", "b65", "data"]), json_values, max_size=2),
    st.text(max_size=30),                                              # incl. lone surrogates
    json_values)


@st.composite
def float_tensors(draw):
    """Nested lists of numbers: sometimes (N, H, W, 3), sometimes another rank or ragged."""
    shape = draw(st.lists(st.integers(0, 4), min_size=0, max_size=5))
    if draw(st.booleans()) and len(shape) >= 1:
        shape[-1] = 3
    n = int(np.prod(shape)) if shape else 1
    flat = draw(st.lists(numbers if draw(st.booleans()) else st.floats(0, 1, width=32),
                         min_size=n, max_size=n))
    arr = np.array(flat, dtype=object).reshape(shape) if shape else flat[0]
    out = arr.tolist() if shape else arr
    if draw(st.booleans()) and isinstance(out, list) and out:      # make it ragged
        out = out + [draw(json_values)]
    return out


instance_lists = st.one_of(
    st.lists(b64_values, max_size=6),                                  # max_batch is 4
    st.lists(st.fixed_dictionaries({"images": b64_values}), max_size=5),
    st.lists(st.fixed_dictionaries({"images": b64_values, "weights": json_values}), max_size=3),
    float_tensors(), json_values)
signature_names = st.one_of(st.sampled_from(sorted(SIGNATURES) + ["", "nope", "serving_default "]),
                            json_values)


@st.composite
def bodies(draw):
    body = {}
    if draw(st.booleans()):
        body["signature_name"] = draw(signature_names)
    which = draw(st.sampled_from(["instances", "inputs", "both", "neither"]))
    if which in ("instances", "both"):
        body["instances"] = draw(instance_lists)
    if which in ("inputs", "both"):
        body["inputs"] = draw(st.one_of(instance_lists, st.dictionaries(
            st.sampled_from(["images", "weights", "other"]), instance_lists, max_size=3)))
    if draw(st.integers(0, 9)) == 0:
        body[draw(st.text(max_size=6))] = draw(json_values)
    return body


def _assert_parses_or_4xx(body) -> None:
    try:
        name, inputs, row = rest.parse_predict(body, SIGNATURES, LIMITS)
    except rest.RequestError as e:
        assert 400 <= e.status < 500 and str(e)
        return
    specs = SIGNATURES[name].structured_input_signature[1]
    assert set(inputs) == set(specs) and isinstance(row, bool)
    for k, arr in inputs.items():
        assert 1 <= len(arr) <= LIMITS.max_batch
        if specs[k].dtype == tf.string:
            assert arr.dtype == object and all(isinstance(b, bytes) for b in arr)
        else:
            assert arr.dtype == np.float32 and arr.ndim == specs[k].shape.rank and np.all(np.isfinite(arr))


# ---- the decoder -------------------------------------------------------------------------

@fuzz(400)
@given(bodies())
def test_structured_bodies_parse_or_give_4xx(body):
    _assert_parses_or_4xx(body)


@fuzz(200)
@given(json_values)
def test_any_json_value_parses_or_gives_4xx(value):
    _assert_parses_or_4xx(value)


@fuzz(300)
@given(st.one_of(st.binary(max_size=200), bodies().map(lambda b: json.dumps(b).encode()),
                 st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
                 st.integers(1, 100_000).map(lambda n: b"[" * n + b"]" * n),     # deep nesting
                 st.integers(1, 100_000).map(lambda n: b'{"instances": ' + b"[" * n)))
def test_any_bytes_body_decodes_or_gives_4xx(raw):
    try:
        body = rest.decode_body(raw)
    except rest.RequestError as e:
        assert 400 <= e.status < 500 and str(e).startswith("JSON Parse error")
        return
    _assert_parses_or_4xx(body)


def test_known_crashers_are_4xx():
    """Cases the fuzz found (each was a 500 or a traceback before)."""
    cases = [
        {"signature_name": ["serving_default"], "instances": []},          # unhashable name
        {"signature_name": {"a": 1}, "instances": []},
        {"instances": ["\ud800"]},                                         # lone surrogate
        {"signature_name": "predict_images", "instances": [[[[10 ** 400, 0, 0]]]]},  # int overflow
        {"instances": [{"b64": base64.b64encode(b"GIF89a\x20\x4e\x20\x4e" + b"\0" * 20).decode()}]},
    ]
    for body in cases:
        with pytest.raises(rest.RequestError):
            rest.parse_predict(body, SIGNATURES, LIMITS)
    with pytest.raises(rest.RequestError, match="nested too deeply"):
        rest.decode_body(b"[" * 100_000 + b"]" * 100_000)


# ---- through the real server -------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from gmcml_tf.serving.export import export
    from gmcml_tf.serving.app import create_app
    from gmcml_tf.serving.repository import ModelRepository
    base = tmp_path_factory.mktemp("saved_models") / "gmcml"
    export(tiny_model(), base, image_size=SIZE, class_names=list(CATEGORIES))
    with running_server(create_app(ModelRepository(base), LIMITS)) as url:
        with httpx.Client(base_url=url, timeout=60) as client:
            yield client


good_bodies = st.one_of(
    st.lists(st.sampled_from(_IMAGES[:2]), min_size=1, max_size=4).map(
        lambda imgs: {"instances": [{"b64": base64.b64encode(b).decode()} for b in imgs]}),
    st.tuples(st.integers(1, 2), st.integers(1, 40), st.integers(1, 40)).map(
        lambda s: {"signature_name": "predict_images", "inputs": np.full((*s, 3), 0.5).tolist()}))


@fuzz(80)
@given(st.one_of(bodies().map(lambda b: (json.dumps(b).encode(), False)),
                 st.binary(max_size=100).map(lambda b: (b, False)),
                 good_bodies.map(lambda b: (json.dumps(b).encode(), True))),
       st.sampled_from(["gmcml:predict", "gmcml/versions/1:predict", "gmcml/versions/9:predict",
                        "other:predict", "gmcml:classify", "gmcml/metadata"]))
def test_real_server_never_answers_5xx(server, body, path):
    raw, good = body
    r = server.post(f"/v1/models/{path}", content=raw, headers={"content-type": "application/json"})
    assert r.status_code < 500, r.text
    if good and path in ("gmcml:predict", "gmcml/versions/1:predict"):
        assert r.status_code == 200, r.text
        assert len(r.json()["predictions" if b'"instances"' in raw else "outputs"]) >= 1
    elif r.status_code != 200:
        assert isinstance(r.json()["error"], str)


def test_real_server_answers_a_good_request_after_the_fuzz(server):
    body = {"instances": [{"b64": base64.b64encode(png_bytes()).decode()}]}
    r = server.post("/v1/models/gmcml:predict", json=body)
    assert r.status_code == 200 and len(r.json()["predictions"][0]["probabilities"]) == len(CATEGORIES)
