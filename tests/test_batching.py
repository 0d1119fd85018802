"""Request batching (gmcml_tf/serving/batching.py): concurrent predicts become one model call,
each request gets its own rows back, a bad request fails alone; then the same over real HTTP."""
import base64
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests

from gmcml_tf.serving.batching import Batcher, BatchingParameters, QueueFull
from serving_fixtures import SIZE, png_bytes, running_server, tiny_model
from tfrecords_tools.categories import CATEGORIES


class _Servable:
    def __init__(self, path):
        self.path = path


class BadInput(Exception):
    pass


def _model(calls):
    lock = threading.Lock()

    def fn(x):
        if (x < 0).any():
            raise BadInput("negative row")
        time.sleep(0.02)  # a model call takes time: requests arriving meanwhile queue up
        with lock:
            calls.append(len(x))
        return {"y": x * 2, "id": x[:, :1]}
    return fn


SERVABLE = _Servable("m/1")


def _submit_all(batcher, rows, fn, servable=SERVABLE):
    def one(r):
        try:
            return batcher.run(servable, "serving_default", {"x": r}, fn)
        except Exception as e:
            return e
    with ThreadPoolExecutor(len(rows)) as pool:
        return list(pool.map(one, rows))


def test_concurrent_requests_share_calls_and_get_their_own_rows():
    calls = []
    batcher = Batcher(BatchingParameters(max_batch_size=8, batch_timeout_micros=200_000, num_batch_threads=1))
    rows = [np.full((1 + i % 2, 3), float(i)) for i in range(12)]
    out = _submit_all(batcher, rows, _model(calls))
    for r, o in zip(rows, out):
        np.testing.assert_array_equal(o["y"], r * 2)       # each request its own rows, in order
    assert sum(calls) == sum(len(r) for r in rows)
    assert len(calls) < len(rows) and max(calls) <= 8      # merged, never over max_batch_size
    batcher.close()


def test_a_request_that_finds_the_model_idle_does_not_wait_for_the_batch_window():
    calls = []
    batcher = Batcher(BatchingParameters(max_batch_size=8, batch_timeout_micros=30_000_000))
    t0 = time.monotonic()
    for i in range(3):  # one client, one request at a time: each finds nothing to join
        out = batcher.run(SERVABLE, "serving_default", {"x": np.full((1, 3), float(i))}, _model(calls))
        np.testing.assert_array_equal(out["y"], np.full((1, 3), 2.0 * i))
    assert time.monotonic() - t0 < 15      # not three 30-s windows
    assert calls == [1, 1, 1]
    batcher.close()


def test_a_bad_request_in_a_batch_fails_alone():
    calls = []
    batcher = Batcher(BatchingParameters(max_batch_size=16, batch_timeout_micros=200_000),
                      on_bad_input=lambda e: isinstance(e, BadInput))
    rows = [np.full((1, 3), -1.0 if i == 3 else float(i)) for i in range(6)]
    out = _submit_all(batcher, rows, _model(calls))
    assert isinstance(out[3], BadInput)
    for i in (0, 1, 2, 4, 5):
        np.testing.assert_array_equal(out[i]["y"], rows[i] * 2)
    batcher.close()


def test_incompatible_shapes_are_not_merged_and_a_full_queue_is_refused():
    calls = []
    batcher = Batcher(BatchingParameters(max_batch_size=4, batch_timeout_micros=100_000))
    out = _submit_all(batcher, [np.ones((1, 3)), np.ones((1, 5)), np.ones((2, 3))], _model(calls))
    assert [o["y"].shape for o in out] == [(1, 3), (1, 5), (2, 3)]
    tiny = Batcher(BatchingParameters(max_batch_size=1, max_enqueued_batches=1, num_batch_threads=1,
                                      batch_timeout_micros=0))
    gate = threading.Event()

    def slow(x):
        gate.wait(10)
        return {"y": x}
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(tiny.run, _Servable("m/2"), "s", {"x": np.ones((1, 1))}, slow) for _ in range(4)]
        errors = []
        for f in futures:
            try:
                f.result(timeout=0.5)
            except QueueFull as e:
                errors.append(e)
            except Exception:
                pass
        gate.set()
    assert errors  # more than one queued batch of 1 row: refused, not left to pile up
    tiny.close()
    batcher.close()


def test_parameters_round_trip_through_tf_servings_text_format(tmp_path):
    p = BatchingParameters(max_batch_size=16, batch_timeout_micros=500, num_batch_threads=3,
                           max_enqueued_batches=10)
    assert "max_batch_size { value: 16 }" in p.to_text()
    assert BatchingParameters.from_text(p.to_text()) == p
    with pytest.raises(ValueError, match="unknown field 'max_batch'"):
        BatchingParameters.from_text("max_batch { value: 3 }", source="f.txt")
    with pytest.raises(ValueError, match="max_batch_size must be >= 1"):
        BatchingParameters.from_text("max_batch_size { value: 0 }")


def test_over_http_batched_answers_equal_unbatched_ones_and_a_corrupt_image_gets_its_400(tmp_path):
    from gmcml_tf.serving import rest
    from gmcml_tf.serving.app import create_app
    from gmcml_tf.serving.export import export
    from gmcml_tf.serving.repository import ModelRepository
    base = tmp_path / "m"
    summary = export(tiny_model(), base, image_size=SIZE, class_names=list(CATEGORIES))
    text = (base / "batching_parameters.txt").read_text()
    assert BatchingParameters.from_text(text) == BatchingParameters()   # export writes TF Serving's file
    good = [png_bytes(seed=i) for i in range(7)]
    bad = png_bytes(seed=99)
    bad = bad[:len(bad) // 2]   # a truncated PNG: its header is fine, its data is not

    def body(data):
        return {"instances": [{"b64": base64.b64encode(data).decode()}]}
    repo = ModelRepository(base, poll_s=0.0)
    params = BatchingParameters(max_batch_size=8, batch_timeout_micros=100_000)
    with running_server(create_app(repo, rest.Limits())) as url:
        alone = [requests.post(f"{url}/v1/models/m:predict", json=body(d), timeout=120).json() for d in good]
    with running_server(create_app(repo, rest.Limits(), batching=params)) as url:
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(lambda d: requests.post(f"{url}/v1/models/m:predict", json=body(d), timeout=120),
                                good + [bad]))
    repo.close()
    assert [r.status_code for r in got] == [200] * 7 + [400]
    assert "error" in got[-1].json()
    for a, b in zip(alone, got[:7]):
        pa, pb = a["predictions"][0], b.json()["predictions"][0]
        assert pa["class_name"] == pb["class_name"]
        np.testing.assert_allclose(pa["probabilities"], pb["probabilities"], atol=1e-5)
    assert summary["batching_parameters"] == str(base / "batching_parameters.txt")
