"""The trainer (`gmcml_tf.training.train.fit`) and `gmcml-tf fit`: workdir, resume, NaN guard, errors."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO
from gmcml_tf.config import load_config
from gmcml_tf.models.gmcml import METRIC_NAMES
from gmcml_tf.training.train import TrainingError, fit

try:
    from synthetic_data import make_dataset as synthetic
except ImportError:  # tests/ imported as a package
    from tests.synthetic_data import make_dataset as synthetic

TINY = ["model.image_size=32", "model.recon_filters=[8,8,8,16,16]", "model.latent_dim=8",
        "model.hidden_dim=16", "train.batch_size=2", "train.learning_rate=1.0e-3",
        "train.summary_every=1", "train.image_every=2"]


def _cfg(tmp_path, stages: str, *extra):
    (tmp_path / "data").mkdir(exist_ok=True)
    return load_config(None, TINY + [f"train.data={tmp_path / 'data'}", f"train.stages={stages}",
                                     *extra])


def _tags(workdir):
    tags = set()
    for path in (workdir / "tensorboard").glob("events.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(v.tag for v in event.summary.value)
    return tags


def test_fit_writes_the_workdir_and_resumes_after_an_interrupt(tmp_path, monkeypatch):
    stages = ("[{name: a, epochs: 3, steps_per_epoch: 4, losses: {softmax: 1.0}}]")
    cfg = _cfg(tmp_path, stages)
    wd = tmp_path / "run"
    real_save = tf.train.CheckpointManager.save
    calls = []

    def save_then_interrupt(self, *a, **k):  # Ctrl-C just after the epoch-2 checkpoint
        path = real_save(self, *a, **k)
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(tf.train.CheckpointManager, "save", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        fit(cfg, wd, show_progress=False, dataset_fn=synthetic)
    monkeypatch.setattr(tf.train.CheckpointManager, "save", real_save)
    first = json.loads((wd / "history.json").read_text())["epochs"]
    assert [e["epoch"] for e in first] == [1, 2]

    summary = fit(cfg, wd, show_progress=False, dataset_fn=synthetic)
    assert summary["resumed"] == {"stage": 0, "epoch": 2, "step": 8}  # optimizer state restored
    assert summary["steps"] == 12
    history = json.loads((wd / "history.json").read_text())
    assert [e["epoch"] for e in history["epochs"]] == [1, 2, 3]
    assert history["epochs"][-1]["loss/total"] < history["epochs"][0]["loss/total"]
    assert 0.0 <= summary["val_accuracy"] <= 1.0 and history["eval"]
    for name in ("config.yaml", "model.keras", "checkpoints/checkpoint", "training_curves.png"):
        assert (wd / name).exists(), name
    steps = [c["step"] for c in history["curve"]]  # resumed: no step twice, none past the end
    assert steps == sorted(set(steps)) and steps[-1] <= 12 and "noise/r_cls" in history["curve"][0]
    # the resolved config reloads, with the class count fit took from the data
    assert load_config(wd / "config.yaml").model == dataclasses.replace(cfg.model, num_classes=12)
    tags = _tags(wd)
    assert set(METRIC_NAMES) | {"learning_rate", "reconstruction/O_M_Mpred"} <= tags, tags
    # TensorBoard's custom-scalars dashboard: loss terms together, R_rec / R_cls / Var ratio together
    from tensorboard.plugins.custom_scalar import layout_pb2
    layouts = [layout_pb2.Layout.FromString(tf.make_ndarray(v.tensor).item())
               for path in (wd / "tensorboard").glob("events.*")
               for e in tf.compat.v1.train.summary_iterator(str(path)) for v in e.summary.value
               if v.metadata.plugin_data.plugin_name == "custom_scalars"]
    assert layouts
    charts = {c.title: list(c.multiline.tag) for c in layouts[0].category[0].chart}
    assert any("R_rec, R_cls" in title and tags_ == [r"^noise/"] for title, tags_ in charts.items())
    assert any(title.startswith("loss terms") for title in charts)


def test_nan_guard_names_step_and_term_and_keeps_the_last_checkpoint(tmp_path):
    stages = ("[{name: bad, epochs: 2, steps_per_epoch: 2, triplets: false,"
              " losses: {pair: 0, tri: 0, softmax: 1.0}}]")
    cfg = _cfg(tmp_path, stages, "train.evaluate=false")

    def poisoned(*args, **kwargs):  # NaN images from the third batch (epoch 2) on
        ds = synthetic(*args, **kwargs).enumerate()
        return ds.map(lambda i, b: {**b, "image": b["image"] * tf.where(i >= 2, np.nan, 1.0)})

    with pytest.raises(TrainingError, match=r"step 3 \(stage 'bad'\): loss/(enc|gen|softmax|total) is nan"):
        fit(cfg, tmp_path / "run", show_progress=False, dataset_fn=poisoned)
    latest = tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints"))
    assert latest.endswith("ckpt-2")
    reader = tf.train.load_checkpoint(latest)  # the good checkpoint holds no NaN anywhere
    values = [reader.get_tensor(k) for k in reader.get_variable_to_shape_map() if "VARIABLE_VALUE" in k]
    assert len(values) > 50 and all(np.isfinite(np.asarray(v, np.float64)).all() for v in values
                                    if np.asarray(v).dtype.kind == "f")


def _cli(*args):
    p = subprocess.run([sys.executable, "-m", "gmcml_tf.cli", *args], capture_output=True,
                       text=True, cwd=REPO, timeout=300)
    return p.returncode, p.stderr


def test_fit_cli_user_errors_exit_2(tmp_path):
    code, err = _cli("fit", "--config", "configs/smoke.yaml", "--set", "batch_sise=3",
                     "--workdir", str(tmp_path / "w"))
    assert code == 2 and "Traceback" not in err, err
    assert "train.batch_sise" in err and "did you mean 'train.batch_size'" in err, err
    code, err = _cli("fit", "--config", "configs/smoke.yaml", "--data", str(tmp_path / "none"),
                     "--workdir", str(tmp_path / "w"))
    assert code == 2 and "Traceback" not in err and "does not exist" in err, err
    assert not (tmp_path / "w").exists()


def test_fit_on_the_smoke_render_lowers_the_loss(smoke_render, tmp_path):
    pytest.importorskip("gmcml_tf.data")
    render_cfg, _ = smoke_render
    cfg = load_config(REPO / "configs" / "smoke.yaml", [f"train.data={render_cfg.out}"])
    summary = fit(cfg, tmp_path / "run", show_progress=False)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    epochs = history["epochs"]
    assert len(epochs) == sum(s.epochs for s in cfg.train.stages)
    assert epochs[-1]["loss/gen"] < epochs[0]["loss/gen"]
    assert summary["val_accuracy"] is not None and (tmp_path / "run" / "model.keras").exists()
