"""`gmcml-tf bench adapt`: a real adaptation of the smoke run, timed, and the table that names
the settings the time was taken with (so a figure taken under older defaults says so)."""
from __future__ import annotations

import dataclasses

from conftest import photo_folder


def test_bench_adapt_times_each_method_and_records_its_settings(smoke_run, tmp_path):
    from gmcml_tf.adaptation.self_training import SelfTrainingConfig
    from gmcml_tf.bench.adapt import bench_adapt, photo_sample
    from gmcml_tf.evaluation.report_tables import adapt_bench_markdown
    photo_folder(tmp_path / "photos", n=40)

    # round robin over the classes; past the folder's photos, copies under new names
    linked = tmp_path / "sample"
    assert photo_sample(tmp_path / "photos", 44, linked) == 40
    names = sorted(p.name for p in linked.iterdir())
    assert len(names) == 44 and (linked / names[0]).resolve().parent.name == "airplanes"
    assert (linked / names[1]).resolve().parent.name == "car"

    result = bench_adapt(str(smoke_run), str(tmp_path / "photos"), count=40)
    rows = {r["method"]: r for r in result["rows"]}
    assert set(rows) == {"self-training", "adabn"} and result["distinct_photos"] == 40
    st = rows["self-training"]
    assert st["photos"] == 40 and st["wall_s"] > 0 and st["cpu_s"] > 0
    defaults = dataclasses.asdict(SelfTrainingConfig().for_photos(40))
    assert st["settings"] == {k: defaults[k] for k in st["settings"]}
    assert len(st["round_s"]) == defaults["rounds"] == st["settings"]["rounds"]
    assert st["steps"] == defaults["rounds"] * defaults["steps_per_round"]

    table = adapt_bench_markdown(result)
    assert f"smoothing_to={defaults['smoothing_to']}" in table
    assert f"min_share={defaults['min_share']}" in table
    assert "≤ ~600 s: **met**" in table
