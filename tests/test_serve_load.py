"""A short run (4 s) of gmcml_tf/bench/serve_load.py: 8 clients, 20% malformed requests, a real
`gmcml-tf serve` subprocess -> no 5xx, every good request answered, every bad one a 4xx.
(The 60-s run with RSS figures: `python -m gmcml_tf.bench.serve_load --seconds 60`.)"""
from __future__ import annotations


from serving_fixtures import SIZE, tiny_model
from tfrecords_tools.categories import CATEGORIES


def _serve_load():
    from gmcml_tf.bench import serve_load
    return serve_load


def test_eight_clients_with_malformed_requests_get_no_5xx(tmp_path):
    from gmcml_tf.serving.export import export
    base = tmp_path / "gmcml"
    export(tiny_model(), base, image_size=SIZE, class_names=list(CATEGORIES))
    r = _serve_load().run_load(base, seconds=4, warmup=1, clients=8, bad_fraction=0.2, size=48)
    summary = {k: v for k, v in r.items() if k != "rss_samples"}
    assert r["five_xx"] == 0 and r["dropped_good"] == 0, summary
    assert r["insane_good_answers"] == 0 and r["malformed_not_4xx"] == 0, summary
    assert r["server_alive_at_end"] and r["server_tracebacks"] == 0, summary
    assert r["good_requests"] >= 20 and r["malformed_requests"] >= 3, summary
    assert set(r["status_by_kind"]) - {"good", "good_columnar"}, summary   # malformed kinds seen
    assert r["ok"] and r["rss_end_mb"] > 0
