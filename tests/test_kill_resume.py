"""Issue 7, kill and resume: `kill -9` of `gmcml-tf render` and `gmcml-tf fit`, then re-run.

render: killed 5 times at random points, the re-run finishes and every shard and the
manifest are byte-identical to an uninterrupted run (with another worker count); no
render worker outlives a killed render; no half-written shard is ever visible.
fit: killed 3 times mid-epoch, each time the latest checkpoint restores completely
(model and optimizer) and the re-run resumes from it and finishes the planned steps.
Real subprocesses and real SIGKILLs: marked slow (~2 min).
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from tfrecords_tools.schema import read_records

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "gmcml_tf.cli"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


def _children(pid: int) -> set[int]:
    out = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out.update(int(c) for c in (task / "children").read_text().split())
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _render_cmd(out: Path, workers: int) -> list[str]:
    return [*CLI, "render", "--config", str(REPO / "configs/smoke.yaml"), "--out", str(out),
            "--views-per-model", "32", "--workers", str(workers), "--no-progress"]


def _shard_bytes(out: Path) -> dict:
    """Every shard's bytes, and the manifest but for the two settings that name no content."""
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("out", "workers"):
        manifest["config"].pop(key)
    return {"manifest": manifest, **{p.name: p.read_bytes() for p in sorted(out.glob("*.tfrecord"))}}


def test_render_killed_five_times_resumes_byte_identical(tmp_path):
    ref = tmp_path / "uninterrupted"
    subprocess.run(_render_cmd(ref, 1), env=ENV, check=True, capture_output=True, cwd=REPO)
    total = len(list(ref.glob("*.tfrecord")))
    out, rng, done = tmp_path / "killed", random.Random(7), []
    for _ in range(5):
        before = len(list(out.glob("*.tfrecord")))
        wanted = before + rng.randint(1, 3)  # kill after 1-3 new shards, plus a random delay
        p = subprocess.Popen(_render_cmd(out, 2), env=ENV, cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        workers: set[int] = set()
        while p.poll() is None and len(list(out.glob("*.tfrecord"))) < wanted:
            workers |= _children(p.pid)
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.2))
        workers |= _children(p.pid)
        assert p.poll() is None, "the render finished before it was killed"
        p.send_signal(signal.SIGKILL)
        p.wait()
        stop = time.monotonic() + 10  # PR_SET_PDEATHSIG: the workers die with the render
        while any(_alive(w) for w in workers) and time.monotonic() < stop:
            time.sleep(0.05)
        assert workers and not [w for w in workers if _alive(w)], "render workers outlived a kill -9"
        assert not (out / "manifest.json").exists()
        for shard in out.glob("*.tfrecord"):  # visible shards are complete, with metadata
            records = json.loads((out / ".meta" / f"{shard.name}.json").read_text())["records"]
            assert sum(1 for _ in read_records(shard)) == records
        done.append(len(list(out.glob("*.tfrecord"))))
    # Kills landed at 5 points of progress, most of them with shards still to render (a kill
    # after the last shard, before the manifest, is a fair point too):
    assert done == sorted(done) and sum(d < total for d in done) >= 4, (done, total)
    r = subprocess.run(_render_cmd(out, 2), env=ENV, cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "complete shards kept" in r.stdout
    assert not list(out.glob(".*.tmp")) and not list((out / ".meta").glob(".*.tmp"))
    assert _shard_bytes(out) == _shard_bytes(ref)


def _fit_config(tmp_path: Path, data: str) -> Path:
    cfg = yaml.safe_load((REPO / "configs/smoke.yaml").read_text())
    cfg["train"].update(data=data, workdir=str(tmp_path / "run"), keep_checkpoints=2)
    cfg["train"]["stages"][0].update(epochs=4, steps_per_epoch=12)
    cfg["train"]["stages"][1].update(epochs=3, steps_per_epoch=12)
    path = tmp_path / "fit.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _checkpoint_state(workdir: Path) -> tuple[int, dict]:
    """The latest checkpoint, restored in full into a fresh model: (step, counters)."""
    import tensorflow as tf
    from gmcml_tf.config import load_config
    latest = tf.train.latest_checkpoint(str(workdir / "checkpoints"))
    step = int(tf.train.load_checkpoint(latest).get_tensor(
        "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"))
    assert latest.endswith(f"ckpt-{step}")
    cfg = load_config(workdir / "config.yaml")
    from gmcml_tf.training.train import build_model
    import keras
    model = build_model(cfg)
    opt = keras.optimizers.Adam(1e-3)
    model.compile(optimizer=opt)
    opt.build(model.trainable_variables)
    ckpt = tf.train.Checkpoint(model=model, optimizer=opt, stage=tf.Variable(0, dtype=tf.int64),
                               epoch=tf.Variable(0, dtype=tf.int64))
    ckpt.restore(latest).assert_existing_objects_matched()
    assert int(opt.iterations.numpy()) == step
    moments = [v for v in opt.variables if v.path.endswith(("momentum", "velocity"))]
    assert moments and all(float(abs(v).numpy().sum()) > 0 for v in moments[:8]), \
        "the Adam moments were not restored"
    return step, {"stage": int(ckpt.stage.numpy()), "epoch": int(ckpt.epoch.numpy())}


def test_fit_killed_three_times_mid_epoch_resumes_from_complete_checkpoints(smoke_render, tmp_path):
    cfg, _ = smoke_render
    config = _fit_config(tmp_path, cfg.out)
    workdir, rng, steps_seen = tmp_path / "run", random.Random(3), []
    cmd = [*CLI, "fit", "--config", str(config), "--no-progress"]
    for kill in range(3):
        p = subprocess.Popen(cmd, env=ENV, cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        ckpts = workdir / "checkpoints"
        before = {x.name for x in ckpts.glob("ckpt-*.index")}
        while p.poll() is None and not ({x.name for x in ckpts.glob("ckpt-*.index")} - before):
            time.sleep(0.01)  # wait for this run's first new checkpoint, then kill mid-epoch
        time.sleep(rng.uniform(0.05, 0.4))
        assert p.poll() is None, f"fit ended before kill {kill + 1}:\n{p.stdout.read()}"
        p.send_signal(signal.SIGKILL)
        output = p.communicate()[0]
        if kill:
            assert "resuming" in output and f"(step {steps_seen[-1]})" in output, output
        step, counters = _checkpoint_state(workdir)
        assert not steps_seen or step > steps_seen[-1]
        steps_seen.append(step)
        assert not list(workdir.glob("*.tmp*")), "a temporary file was left visible"
    r = subprocess.run(cmd, env=ENV, cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"(step {steps_seen[-1]})" in r.stdout
    assert "84 steps" in r.stdout  # 4 x 12 + 3 x 12: every planned step, none twice
    history = json.loads((workdir / "history.json").read_text())
    epochs = [(e["stage_index"], e["epoch"]) for e in history["epochs"]]
    assert epochs == [(0, e) for e in range(1, 5)] + [(1, e) for e in range(1, 4)]
    assert (workdir / "model.keras").is_file()
