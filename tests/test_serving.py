"""Export -> SavedModel -> TF-Serving-compatible REST server, over real HTTP on loopback."""
from __future__ import annotations

import base64
import json
import shutil
import threading
import time

import httpx
import numpy as np
import pytest
import tensorflow as tf

from gmcml_tf.serving.export import ExportError, export, read_metadata
from gmcml_tf.serving import rest
from gmcml_tf.serving.app import create_app
from gmcml_tf.serving.client import PredictError, predict_http, predict_local, read_images
from gmcml_tf.serving.repository import ModelRepository, NotFound
from serving_fixtures import SIZE, png_bytes, running_server, tiny_model
from tfrecords_tools.categories import CATEGORIES

OUTPUTS = {"probabilities", "class_id", "class_name", "classes", "scores", "descriptor",
           "reconstruction"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("saved_models") / "gmcml"
    model = tiny_model()
    summary = export(model, base, image_size=SIZE, class_names=list(CATEGORIES))
    return model, base, summary


@pytest.fixture(scope="module")
def server(exported):
    _, base, _ = exported
    repo = ModelRepository(base, poll_s=0.0)
    with running_server(create_app(repo, rest.Limits(max_batch=4, max_pixels=300 * 300,
                                                     max_body_bytes=2 ** 20))) as url:
        yield url
    repo.close()


def b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode()}


def test_export_layout_signatures_and_agreement_with_keras(exported):
    model, base, summary = exported
    assert summary["version"] == 1 and (base / "1" / "saved_model.pb").is_file()
    assert summary["max_abs_probability_difference"] <= 1e-4
    meta = read_metadata(base / "1")
    assert meta["class_names"] == list(CATEGORIES) and meta["image_size"] == SIZE
    loaded = tf.saved_model.load(str(base / "1"))
    assert set(loaded.signatures) == {"serving_default", "predict_images"}
    img = np.random.default_rng(1).random((2, 48, 40, 3)).astype(np.float32)  # any H, W
    out = loaded.signatures["predict_images"](images=tf.constant(img))
    assert set(out) == OUTPUTS
    assert out["reconstruction"].dtype == tf.uint8 and out["reconstruction"].shape == (2, SIZE, SIZE, 3)
    np.testing.assert_allclose(out["probabilities"].numpy().sum(1), 1, atol=1e-5)
    # Test mode (docs/method.md §6): no dropout, no noise -> the same answer twice.
    again = loaded.signatures["predict_images"](images=tf.constant(img))
    np.testing.assert_array_equal(out["probabilities"].numpy(), again["probabilities"].numpy())
    assert [c.decode() for c in out["class_name"].numpy()] == \
        [CATEGORIES[i] for i in out["class_id"].numpy()]


def test_export_refuses_an_existing_version(exported):
    model, base, _ = exported
    with pytest.raises(ExportError, match="immutable"):
        export(model, base, image_size=SIZE, class_names=list(CATEGORIES), version=1)


def test_status_and_metadata_match_tf_serving_formats(server):
    r = httpx.get(f"{server}/v1/models/gmcml")
    assert r.status_code == 200
    assert r.json() == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    meta = httpx.get(f"{server}/v1/models/gmcml/metadata").json()
    assert meta["model_spec"] == {"name": "gmcml", "signature_name": "", "version": "1"}
    sigs = meta["metadata"]["signature_def"]["signature_def"]
    assert set(sigs) == {"serving_default", "predict_images"}
    images = sigs["serving_default"]["inputs"]["images"]
    assert images["dtype"] == "DT_STRING" and images["tensor_shape"]["dim"] == [{"size": "-1", "name": ""}]
    assert sigs["serving_default"]["method_name"] == "tensorflow/serving/predict"
    assert set(sigs["predict_images"]["outputs"]) == OUTPUTS


def test_row_and_columnar_predict_and_cli_paths_agree(server, exported, tmp_path):
    _, base, _ = exported
    imgs = [png_bytes(seed=1), png_bytes((20, 30), seed=2, mode="L")]
    row = httpx.post(f"{server}/v1/models/gmcml:predict", json={"instances": [b64(i) for i in imgs]})
    assert row.status_code == 200
    preds = row.json()["predictions"]
    assert len(preds) == 2 and set(preds[0]) == OUTPUTS
    col = httpx.post(f"{server}/v1/models/gmcml/versions/1:predict",
                     json={"signature_name": "serving_default", "inputs": {"images": [b64(i) for i in imgs]}})
    assert col.status_code == 200
    np.testing.assert_allclose(col.json()["outputs"]["probabilities"],
                               [p["probabilities"] for p in preds], atol=1e-6)
    floats = np.random.default_rng(3).random((1, SIZE, SIZE, 3)).tolist()
    r = httpx.post(f"{server}/v1/models/gmcml:predict",
                   json={"signature_name": "predict_images", "instances": floats})
    assert r.status_code == 200 and len(r.json()["predictions"][0]["probabilities"]) == 12
    paths = []
    for i, data in enumerate(imgs):
        paths.append(tmp_path / f"{i}.png")
        paths[-1].write_bytes(data)
    data = read_images([str(p) for p in paths])
    local = predict_local(str(base), data, k=3)
    remote = predict_http(server, "gmcml", data, k=3)
    assert [[c["class"] for c in x] for x in local] == [[c["class"] for c in x] for x in remote]
    for a, b in zip(local, remote):
        np.testing.assert_allclose([c["probability"] for c in a], [c["probability"] for c in b], atol=1e-5)


BAD_REQUESTS = [
    ("not json", b"{instances: ", 400, "JSON"),
    ("not an object", json.dumps([1, 2]).encode(), 400, "JSON object"),
    ("no instances", json.dumps({"foo": 1}).encode(), 400, "unknown field"),
    ("both formats", json.dumps({"instances": [], "inputs": []}).encode(), 400, "exactly one"),
    ("bad base64", json.dumps({"instances": [{"b64": "!!!"}]}).encode(), 400, "base64"),
    ("not an image", json.dumps({"instances": [b64(b"hello")]}).encode(), 400, "not a JPEG"),
    ("too many pixels", json.dumps({"instances": [b64(png_bytes((400, 400, 3)))]}).encode(), 400, "pixels"),
    ("batch too big", json.dumps({"instances": [b64(png_bytes())] * 5}).encode(), 400, "batch"),
    ("unknown signature", json.dumps({"signature_name": "nope", "instances": [1]}).encode(), 400, "nope"),
    ("wrong rank", json.dumps({"signature_name": "predict_images", "instances": [[1, 2]]}).encode(), 400, "rank"),
    ("wrong dtype", json.dumps({"signature_name": "predict_images",
                                "instances": [[[["a", "b", "c"]]]]}).encode(), 400, "float32"),
    ("ragged", json.dumps({"signature_name": "predict_images",
                           "instances": [[[[0, 0, 0]], [[0, 0]]]]}).encode(), 400, "rectangular"),
    ("body too large", b"{\"instances\": [\"" + b"a" * (2 ** 20 + 10) + b"\"]}", 413, "limit"),
]


@pytest.mark.parametrize("what,body,status,message", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_malformed_requests_get_4xx_and_the_server_keeps_serving(server, what, body, status, message):
    r = httpx.post(f"{server}/v1/models/gmcml:predict", content=body,
                   headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    good = httpx.post(f"{server}/v1/models/gmcml:predict", json={"instances": [b64(png_bytes())]})
    assert good.status_code == 200


def test_unknown_model_version_and_verb_are_404(server):
    assert httpx.get(f"{server}/v1/models/other").status_code == 404
    assert httpx.get(f"{server}/v1/models/gmcml/versions/7").status_code == 404
    r = httpx.post(f"{server}/v1/models/gmcml/versions/7:predict", json={"instances": [b64(png_bytes())]})
    assert r.status_code == 404 and "Specific(gmcml, 7)" in r.json()["error"]
    assert httpx.get(f"{server}/v1/models/gmcml/nonsense").status_code == 404


def _status(url: str) -> list[tuple[str, str]]:
    return [(s["version"], s["state"]) for s in httpx.get(f"{url}/v1/models/gmcml").json()["model_version_status"]]


def _wait_for(url: str, want: list[tuple[str, str]], deadline_s: float = 300.0) -> None:
    """Polls the observable status (never a fixed client timeout a slow CPU can miss)."""
    deadline = time.monotonic() + deadline_s
    while _status(url) != want:
        assert time.monotonic() < deadline, f"status stayed {_status(url)}, wanted {want}"
        time.sleep(0.1)


def test_new_version_is_picked_up_without_restart(exported, tmp_path):
    model, base, _ = exported
    repo_dir = tmp_path / "gmcml"
    shutil.copytree(base, repo_dir)
    repo = ModelRepository(repo_dir, poll_s=0.1)
    try:
        with running_server(create_app(repo)) as url:
            assert _status(url) == [("1", "AVAILABLE")]
            export(model, repo_dir, image_size=SIZE, class_names=list(CATEGORIES))  # -> version 2
            _wait_for(url, [("2", "AVAILABLE"), ("1", "END")])
            meta = httpx.get(f"{url}/v1/models/gmcml/metadata").json()
            assert meta["model_spec"]["version"] == "2"
            r = httpx.get(f"{url}/v1/models/gmcml/versions/1/metadata")  # unloaded, as TF Serving
            assert r.status_code == 404 and "Specific(gmcml, 1)" in r.json()["error"]
    finally:
        repo.close()


def test_predicts_during_a_slow_load_are_answered_by_the_old_version(exported, tmp_path):
    """A load that takes as long as the test wants: every predict meanwhile gets 200 from v1."""
    from gmcml_tf.serving.repository import ModelRepository as Repo
    _, base, _ = exported
    repo_dir = tmp_path / "gmcml"
    shutil.copytree(base, repo_dir)
    release, started = threading.Event(), threading.Event()

    def slow_loader(path):
        servable = Repo._load_and_warm(path)
        if path.name == "2":
            started.set()
            assert release.wait(120)
        return servable

    body = {"instances": [b64(png_bytes(seed=5))]}
    repo = ModelRepository(repo_dir, poll_s=0.05, loader=slow_loader)
    try:
        with running_server(create_app(repo)) as url:
            v1 = httpx.post(f"{url}/v1/models/gmcml:predict", json=body).json()["predictions"][0]
            export(tiny_model(seed=1), repo_dir, image_size=SIZE, class_names=list(CATEGORIES))
            assert started.wait(120)
            assert _status(url) == [("2", "LOADING"), ("1", "AVAILABLE")]
            for _ in range(10):
                r = httpx.post(f"{url}/v1/models/gmcml:predict", json=body)
                assert r.status_code == 200
                assert r.json()["predictions"][0]["probabilities"] == v1["probabilities"]
            assert httpx.post(f"{url}/v1/models/gmcml/versions/2:predict", json=body).status_code == 404
            release.set()
            _wait_for(url, [("2", "AVAILABLE"), ("1", "END")])
            v2 = httpx.post(f"{url}/v1/models/gmcml:predict", json=body).json()["predictions"][0]
            assert v2["probabilities"] != v1["probabilities"]  # another model answers now
    finally:
        release.set()
        repo.close()


def test_a_version_that_fails_to_load_is_reported_and_the_old_one_keeps_serving(exported, tmp_path):
    _, base, _ = exported
    repo_dir = tmp_path / "gmcml"
    shutil.copytree(base, repo_dir)
    logged = []
    repo = ModelRepository(repo_dir, poll_s=0.05, log=logged.append)
    try:
        with running_server(create_app(repo)) as url:
            broken = tmp_path / "staging"
            broken.mkdir()
            (broken / "saved_model.pb").write_bytes(b"not a protobuf")
            broken.rename(repo_dir / "2")
            deadline = time.monotonic() + 120
            while _status(url)[0][1] != "END":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            status = httpx.get(f"{url}/v1/models/gmcml").json()["model_version_status"]
            assert [(s["version"], s["state"]) for s in status] == [("2", "END"), ("1", "AVAILABLE")]
            assert status[0]["status"]["error_code"] == "UNKNOWN" and status[0]["status"]["error_message"]
            assert status[1]["status"] == {"error_code": "OK", "error_message": ""}
            assert len(logged) == 1 and "version 2" in logged[0] and "still serving [1]" in logged[0]
            r = httpx.post(f"{url}/v1/models/gmcml:predict", json={"instances": [b64(png_bytes())]})
            assert r.status_code == 200
    finally:
        repo.close()


def test_the_served_version_is_loaded_and_warmed_up_before_the_first_request(exported):
    _, base, _ = exported
    calls = []

    def loader(path):
        calls.append(path.name)
        return ModelRepository._load_and_warm(path)

    repo = ModelRepository(base, loader=loader, watch=False)
    assert calls == ["1"] and repo.versions() == [1]
    assert repo.status("gmcml")[0].state == "AVAILABLE"


def test_predict_names_an_unreadable_file(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not really a jpeg")
    with pytest.raises(PredictError, match="bad.jpg"):
        read_images([str(bad)])
    with pytest.raises(PredictError, match="missing.png"):
        read_images([str(tmp_path / "missing.png")])


def test_serve_on_a_taken_port_is_one_line(exported, server, capsys):
    """The port is bound before the URL is announced: a taken one is exit 2 and one line."""
    from gmcml_tf.cli import main
    _, base, _ = exported
    port = int(server.rsplit(":", 1)[1])  # the fixture's server holds it
    assert main(["serve", "--model", str(base), "--port", str(port)]) == 2
    out = capsys.readouterr()
    assert out.err == f"gmcml-tf: error: cannot listen on 127.0.0.1:{port} (Address already in use)\n"
    assert "serving" not in out.out


def test_version_policies_all_and_specific(exported, tmp_path):
    """--all-versions serves every folder; saved_models/NAME/N (specific) serves N only."""
    _, base, _ = exported
    repo_dir = tmp_path / "gmcml"
    shutil.copytree(base, repo_dir)
    shutil.copytree(base / "1", repo_dir / "3")
    every = ModelRepository(repo_dir, policy="all", watch=False)
    assert every.versions() == [1, 3] and every.get("gmcml").version == 3
    assert every.get("gmcml", 1).version == 1
    one = ModelRepository(repo_dir, policy="specific", versions=[1], watch=False)
    assert one.versions() == [1] and one.get("gmcml").version == 1
    with pytest.raises(NotFound, match="Specific"):
        one.get("gmcml", 3)
    with pytest.raises(NotFound, match="no version 7"):
        ModelRepository(repo_dir, policy="specific", versions=[7], watch=False)


def test_response_json_gives_back_the_models_float32s_exactly():
    """The predict response writes float32 outputs as their shortest round-trip decimals: a
    client that parses the JSON and casts to float32 has the model's very numbers."""
    from gmcml_tf.serving import rest
    rng = np.random.default_rng(0)
    outputs = {"reconstruction": rng.random((2, 8, 8, 3)).astype(np.float32) * 1e-3,
               "scores": np.float32([[1e-8, 0.5, 1.0], [3.4e38, 1.17549435e-38, 0.0]]),
               "classes": np.array([[b"car", b"bus", b"train"]] * 2, dtype=object),
               "labels": np.int64([[3, 4, 5], [0, 1, 2]])}
    for row in (True, False):
        body = json.loads(rest.encode_json(rest.format_predict(outputs, row)))
        cols = ({k: [p[k] for p in body["predictions"]] for k in outputs} if row else body["outputs"])
        for k in ("reconstruction", "scores"):
            np.testing.assert_array_equal(np.asarray(cols[k], np.float32), outputs[k])
        assert cols["classes"][1] == ["car", "bus", "train"] and cols["labels"] == [[3, 4, 5], [0, 1, 2]]
