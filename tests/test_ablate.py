"""The ablation table and the background-leakage audit's data."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gmcml_tf.evaluation.ablate import collect, markdown, parse_row, row_folder


def test_audit_regenerates_the_exact_background_of_every_view(smoke_render):
    """Each regenerated crop carries the record's background id (regenerate checks it), and
    where the object is absent the rendered image equals the regenerated background."""
    import io

    from PIL import Image

    from gmcml_tf.evaluation.background_audit import regenerate
    from gmcml_tf.data import list_shards
    from tfrecords_tools import schema
    cfg, manifest = smoke_render
    images, labels = regenerate(cfg.out, "val", cfg.size)
    assert len(labels) == manifest["splits"]["val"]["records"]
    records = [schema.decode_example(p) for shard in list_shards(cfg.out, "val")
               for p in schema.read_records(shard)]  # file order, as regenerate reads them
    assert [r["label"] for r in records] == labels.tolist()
    checked = 0
    for r, bg in zip(records, images):
        rgb = np.asarray(Image.open(io.BytesIO(r["image/encoded"])))
        alpha = np.asarray(Image.open(io.BytesIO(r["alpha/encoded"])))
        assert alpha.max() == 255  # an object in front ...
        np.testing.assert_array_equal(rgb[alpha == 0], bg[alpha == 0])  # ... of exactly this
        checked += int((alpha == 0).sum())
    assert checked > 1000


def test_table_from_finished_runs(tmp_path):
    for seed, acc in enumerate((0.5, 0.7)):
        d = tmp_path / "gm_cml" / f"seed-{seed}"
        d.mkdir(parents=True)
        (d / "ablation_row.json").write_text(json.dumps(
            {"synthetic_val_accuracy": acc, "real_accuracy": None, "model_mb": 7.6}))
    rows = collect(tmp_path, ["gm_cml", "missing"])
    assert list(rows) == ["gm_cml"]
    assert rows["gm_cml"]["synthetic_val_accuracy"]["mean"] == 0.6
    assert abs(rows["gm_cml"]["synthetic_val_accuracy"]["std"] - 0.1414) < 1e-3
    md = markdown({"rows": rows, "data": "d", "photos": "p", "restrict_to_present": False,
                   "classes": ["jet", "moped", "desk chair"], "chance": 1 / 3, "majority_share_val": 0.4,
                   "val_split": "val split by model"})
    assert "| gm_cml | 2 | 60.0 ± 14.1 | – |" in md
    assert "3-way chance = 33.3%; the largest class holds 40.0% of the val renders" in md
    assert "chance not known" in markdown({"rows": rows, "data": "d", "photos": "p",
                                           "restrict_to_present": False, "chance": None})
    from PIL import Image

    from gmcml_tf.evaluation.plots import ablation_bars
    png = ablation_bars(rows, tmp_path / "table.png")
    with Image.open(png) as im:
        assert im.size[0] > 300 and im.size[1] > 200


def test_lever_rows_are_config_plus_overrides_and_checked_before_any_fit(tmp_path):
    assert parse_row("gm_cml:augment.enabled=false:balanced=false") == (
        "gm_cml", ["augment.enabled=false", "balanced=false"])
    assert parse_row("zigzagnet") == ("zigzagnet", [])
    spec = "zigzagnet:balanced=false"
    d = tmp_path / row_folder(spec)
    d.mkdir()
    (d / "ablation_row.json").write_text(json.dumps({"synthetic_val_accuracy": 0.4}))
    assert collect(tmp_path, ["zigzagnet", spec])[spec]["synthetic_val_accuracy"]["mean"] == 0.4
    assert ":" not in row_folder(spec)

    from gmcml_tf.config import ConfigError
    from gmcml_tf.evaluation.ablate import ablate
    with pytest.raises(ConfigError, match="balanced"):
        parse_row("zigzagnet:balanced")
    # a typo in the second row stops the command before the first row's fit starts
    with pytest.raises(ConfigError, match="augment"):
        ablate(["zigzagnet", "gm_cml:augment.enabeld=false"], data=str(tmp_path / "none"),
               photos=None, out=str(tmp_path / "out"), audit=False)
    assert not (tmp_path / "out" / "zigzagnet").exists()


def test_hparams_dashboard_rows_carry_config_seed_and_accuracies(tmp_path):
    import tensorflow as tf
    from tensorboard.plugins.hparams import plugin_data_pb2

    from conftest import REPO
    from gmcml_tf.config import load_config
    from gmcml_tf.evaluation.ablate import write_hparams, write_hparams_config
    cfg = load_config(REPO / "configs" / "gm_ml.yaml")
    write_hparams_config(tmp_path)
    write_hparams(tmp_path, "gm_ml", 1, cfg, {"real_present_mean_per_class_accuracy": 0.42,
                                              "synthetic_val_accuracy": 0.6, "real_accuracy": None})
    session, scalars, experiment = None, {}, None
    for path in tmp_path.rglob("events.*"):
        for e in tf.compat.v1.train.summary_iterator(str(path)):
            for v in e.summary.value:
                if v.metadata.plugin_data.plugin_name == "hparams":
                    data = plugin_data_pb2.HParamsPluginData.FromString(v.metadata.plugin_data.content)
                    if data.HasField("session_start_info"):
                        session = data.session_start_info
                    if data.HasField("experiment"):
                        experiment = data.experiment
                elif v.HasField("tensor"):
                    scalars[v.tag] = float(tf.make_ndarray(v.tensor))
    assert session.hparams["config"].string_value == "gm_ml"
    assert session.hparams["seed"].number_value == 1 and session.hparams["noise"].bool_value is False
    assert scalars == pytest.approx({"real_present_mean_per_class_accuracy": 0.42, "synthetic_val_accuracy": 0.6})
    assert {m.name.tag for m in experiment.metric_infos} >= {"real_present_mean_per_class_accuracy"}


def test_a_rerun_keeps_rows_of_runs_finished_with_the_same_config_and_photos(tmp_path):
    """Halves of a table run apart are gathered by one re-run: a finished, evaluated run
    keeps its row; other photos or another eval section re-evaluate without a refit; another
    model or training, or an unfinished run, is fitted."""
    from types import SimpleNamespace

    from conftest import REPO
    from gmcml_tf.config import load_config
    from gmcml_tf.evaluation.ablate import finished_row, fitted_row
    from gmcml_tf.training.train import _write_config
    cfg = load_config(REPO / "configs" / "zigzagnet.yaml", ["train.data=/d", "train.seed=1"])
    photos = SimpleNamespace(source="/photos")
    run = tmp_path / "zigzagnet"
    run.mkdir()
    _write_config(cfg, run)
    row = {"synthetic_val_accuracy": 0.5, "model_mb": 1.2, "train_images_per_s": 90.0,
           "photos": "/photos", "restrict_to_present": False, "mprime_silhouette_iou": 0.4}
    (run / "ablation_row.json").write_text(json.dumps(row))
    assert finished_row(cfg, run, photos, False) is None  # no model.keras: the fit did not end
    assert fitted_row(cfg, run) is None
    (run / "model.keras").write_bytes(b"")
    assert finished_row(cfg, run, photos, False) == row
    assert finished_row(cfg, run, photos, True) is None
    assert finished_row(cfg, run, SimpleNamespace(source="/other"), False) is None
    # a row from before M' was scored: kept for ZigzagNet alone (no M'), evaluated again with a coder
    old = {k: v for k, v in row.items() if k != "mprime_silhouette_iou"}
    (run / "ablation_row.json").write_text(json.dumps(old))
    assert finished_row(cfg, run, photos, False) == old
    (run / "ablation_row.json").write_text(json.dumps(row))
    gm = load_config(REPO / "configs" / "gm_cml.yaml", ["train.data=/d", "train.seed=1"])
    coder = tmp_path / "gm_cml"
    coder.mkdir()
    _write_config(gm, coder)
    (coder / "model.keras").write_bytes(b"")
    (coder / "ablation_row.json").write_text(json.dumps(old))
    assert finished_row(gm, coder, photos, False) is None and fitted_row(gm, coder) is not None
    # the photos are fitted another way: evaluated again, the fit kept
    crop = load_config(REPO / "configs" / "zigzagnet.yaml", ["train.data=/d", "train.seed=1", "eval.fit=crop"])
    assert finished_row(crop, run, photos, False) is None
    assert fitted_row(crop, run) == {"synthetic_val_accuracy": 0.5, "model_mb": 1.2, "train_images_per_s": 90.0}
    # fit records the class count it took from the shards: a config without one is the same fit
    import dataclasses
    import shutil
    resolved = tmp_path / "resolved"
    resolved.mkdir()
    _write_config(dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, num_classes=12)), resolved)
    for name in ("model.keras", "ablation_row.json"):
        shutil.copy(run / name, resolved / name)
    assert finished_row(cfg, resolved, photos, False) == row
    # and evaluating it again (other photos) keeps the recorded count in its config
    from gmcml_tf.evaluation.ablate import train_and_evaluate
    assert train_and_evaluate(cfg, resolved, None, False)["model_mb"] == 1.2
    assert load_config(resolved / "config.yaml").model.num_classes == 12
    # where the run was written does not matter (`fit --workdir` records it), what it trained does
    moved = load_config(REPO / "configs" / "zigzagnet.yaml", ["train.data=/d", "train.seed=1", "train.workdir=x"])
    assert fitted_row(moved, run) is not None
    for other in (["train.data=/d", "train.seed=2"], ["train.data=/d", "train.seed=1", "balanced=false"]):
        assert fitted_row(load_config(REPO / "configs" / "zigzagnet.yaml", other), run) is None
    # fitted outside ablate (no row yet): the synthetic val accuracy comes from its history
    (run / "ablation_row.json").unlink()
    (run / "history.json").write_text(json.dumps({"eval": [{"accuracy": 0.61}]}))
    assert fitted_row(cfg, run) == {"synthetic_val_accuracy": 0.61, "model_mb": None, "train_images_per_s": None}


def test_table_only_gathers_finished_rows_with_their_own_seed_counts(tmp_path):
    from gmcml_tf.config import ConfigError
    from gmcml_tf.evaluation.ablate import ablate
    out = tmp_path / "abl"
    rows = {"gm_cml/seed-0": 0.5, "gm_cml/seed-1": 0.7, "zigzagnet:balanced=false": 0.3,
            "audit_background_only": 0.1}
    for folder, acc in rows.items():
        d = out.joinpath(*map(row_folder, folder.split("/")))
        d.mkdir(parents=True)
        (d / "ablation_row.json").write_text(json.dumps({"synthetic_val_accuracy": acc}))
    result = ablate(["gm_cml", "zigzagnet:balanced=false", "vc"], data="d", photos=None, out=str(out),
                    table_only=True)
    assert list(result["rows"]) == ["gm_cml", "zigzagnet:balanced=false", "audit: backgrounds only"]
    md = (out / "table.md").read_text()
    assert "| gm_cml | 2 | 60.0 ± 14.1 |" in md and "| zigzagnet:balanced=false | 1 | 30.0 ± 0.0 |" in md
    assert "| audit: backgrounds only | 1 | 10.0 ± 0.0 |" in md
    assert (out / "table.png").stat().st_size > 0
    assert not (out / "vc").exists()  # nothing was fitted
    with pytest.raises(ConfigError, match="no finished row"):
        ablate(["vc"], data="d", photos=None, out=str(tmp_path / "empty"), table_only=True, audit=False)


def test_paired_difference_matches_a_hand_computed_paired_t_interval():
    from gmcml_tf.evaluation.paired import cell, paired_difference, verdict
    # diffs 0.02, 0.04, 0.00 (seed 3 only in one row: left out): mean 0.02, sd 0.02,
    # t(0.975, 2) = 4.302653 -> half-width 4.302653 * 0.02 / sqrt(3) = 0.049683
    d = paired_difference({0: 0.72, 1: 0.70, 2: 0.75, 3: 0.9}, {0: 0.70, 1: 0.66, 2: 0.75})
    assert d["seeds"] == [0, 1, 2] and d["n"] == 3
    assert d["mean"] == pytest.approx(0.02)
    assert d["low"] == pytest.approx(0.02 - 0.049683, abs=1e-5)
    assert d["high"] == pytest.approx(0.02 + 0.049683, abs=1e-5)
    assert (d["wins"], d["losses"], d["ties"]) == (2, 0, 1)
    assert verdict(d) == "not resolved (interval spans 0)"
    assert cell(d) == "+2.0 [−3.0, +7.0], wins 2/3"
    sure = paired_difference({0: 0.80, 1: 0.81, 2: 0.79}, {0: 0.70, 1: 0.70, 2: 0.70})
    assert sure["low"] > 0 and verdict(sure) == "better (interval above 0)"
    one = paired_difference({0: 0.5}, {0: 0.6, 1: 0.7})
    assert one["low"] is None and verdict(one) == "one seed: no interval" and cell(one) == "−10.0, wins 0/1"
    assert paired_difference({1: 0.5}, {0: 0.6}) is None


def test_table_pairs_rows_with_the_reference_by_seed_not_by_position(tmp_path):
    from gmcml_tf.config import ConfigError
    from gmcml_tf.evaluation.ablate import ablate
    out = tmp_path / "abl"
    # gm_cml lacks seed 1; its seed 2 must be paired with zigzagnet's seed 2, not its second value
    acc = {("zigzagnet", 0): 0.70, ("zigzagnet", 1): 0.60, ("zigzagnet", 2): 0.80,
           ("gm_cml", 0): 0.75, ("gm_cml", 2): 0.83}
    for (name, seed), a in acc.items():
        d = out / name / f"seed-{seed}"
        d.mkdir(parents=True)
        (d / "ablation_row.json").write_text(json.dumps({"real_present_mean_per_class_accuracy": a}))
    result = ablate(["zigzagnet", "gm_cml"], data="d", photos=None, out=str(out), table_only=True,
                    audit=False, reference="zigzagnet")
    d = result["paired"]["gm_cml"]["real_present_mean_per_class_accuracy"]
    assert d["seeds"] == [0, 2] and d["diffs"] == pytest.approx([0.05, 0.03])
    assert list(result["paired"]) == ["gm_cml"]
    md = (out / "table.md").read_text()
    assert "Against `zigzagnet`, paired by seed" in md
    assert "| gm_cml | +4.0 [−8.7, +16.7], wins 2/2 | – | – | not resolved (interval spans 0) |" in md
    table = json.loads((out / "table.json").read_text())
    assert table["paired"]["gm_cml"]["real_present_mean_per_class_accuracy"]["n"] == 2
    with pytest.raises(ConfigError, match="--reference 'fcn' is not one of --configs"):
        ablate(["zigzagnet", "gm_cml"], data="d", photos=None, out=str(out), table_only=True, reference="fcn")
