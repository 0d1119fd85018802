"""tf.distribute training: 2 MultiWorkerMirrored workers on 127.0.0.1, kill-and-resume,
and MirroredStrategy over 2 logical CPU devices (each in subprocesses with hard timeouts).

The two multi-process tests take ~70 s and ~100 s on 2 busy cores (both workers trace the
train/test functions at the same time): marked slow.
"""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tensorflow as tf

from conftest import REPO

from gmcml_tf.bench.multiworker_local import start_workers, wait_all

TIMEOUT = 420  # seconds per group of worker processes (a run takes ~1-2 min on 2 busy cores)


def _logs(workdir: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                     for p in sorted((workdir / ".logs").glob("*.log")))


def _run(data, workdir, n=2, extra=(), progress=False):
    codes = wait_all(start_workers(REPO / "configs" / "smoke.yaml", data, workdir, n, extra,
                                   progress=progress), TIMEOUT)
    assert codes == [0] * n, _logs(workdir)


def _tmp_dirs(workdir: Path):
    return [p.name for p in workdir.glob(".*-tmp")]


@pytest.mark.slow
def test_two_workers_on_localhost_finish_and_only_the_chief_writes_the_workdir(smoke_render, tmp_path):
    render_cfg, _ = smoke_render
    wd = tmp_path / "run"
    _run(render_cfg.out, wd)
    for name in ("config.yaml", "history.json", "model.keras", "checkpoints/checkpoint"):
        assert (wd / name).exists(), name
    assert list((wd / "tensorboard").glob("events.*")), "no TensorBoard events"
    assert _tmp_dirs(wd) == [], "a non-chief temp dir was left"
    history = json.loads((wd / "history.json").read_text())
    assert [e["step"] for e in history["epochs"]] == [3, 6, 9, 12]  # smoke: 2 stages x 2 x 3
    assert len(history["eval"]) == 2 and 0.0 <= history["eval"][-1]["accuracy"] <= 1.0


@pytest.mark.slow
def test_multi_worker_resumes_from_the_chiefs_checkpoint_after_a_kill(smoke_render, tmp_path):
    render_cfg, _ = smoke_render
    wd = tmp_path / "run"
    extra = ["train.evaluate=false",
             "train.stages=[{name: a, epochs: 5, steps_per_epoch: 2, background: false}]"]
    procs = start_workers(REPO / "configs" / "smoke.yaml", render_cfg.out, wd, 2, extra)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (wd / "checkpoints" / "checkpoint").exists():
            assert all(p.poll() is None for p in procs), _logs(wd)
            assert time.monotonic() < deadline, "no checkpoint in time\n" + _logs(wd)
            time.sleep(0.1)
        procs[1].send_signal(signal.SIGKILL)  # the non-chief dies; the chief then blocks
        procs[1].wait(timeout=60)
        time.sleep(1.0)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(timeout=60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    latest = tf.train.latest_checkpoint(str(wd / "checkpoints"))
    step = int(latest.rsplit("-", 1)[1])
    assert 2 <= step < 10, latest
    assert (wd / ".worker-1-tmp").exists()  # the killed non-chief's saves

    _run(render_cfg.out, wd, extra=extra, progress=True)  # both restart
    chief_log = (wd / ".logs" / "worker-0.log").read_text(errors="replace")
    resumed = re.findall(r"resuming .* \(step (\d+)\)", chief_log)
    assert resumed == [str(step)], chief_log[-3000:]  # from the checkpoint, not from 0
    history = json.loads((wd / "history.json").read_text())
    assert [e["step"] for e in history["epochs"]] == [2, 4, 6, 8, 10]
    assert tf.train.latest_checkpoint(str(wd / "checkpoints")).endswith("ckpt-10")
    assert (wd / "model.keras").exists() and _tmp_dirs(wd) == []


MIRRORED = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from gmcml_tf.config import load_config
from gmcml_tf.training.train import fit
# training_pass: its per-replica state (the previous step's v) under a MirroredStrategy
cfg = load_config("configs/smoke.yaml", [f"train.data={sys.argv[1]}", "train.strategy=mirrored",
                  "train.noise.ratios_from=training_pass",
                  "train.stages=[{name: a, epochs: 2, steps_per_epoch: 2, background: false}]"])
s = fit(cfg, sys.argv[2], show_progress=False)
print("SUMMARY", json.dumps({k: s[k] for k in ("steps", "replicas", "chief", "val_accuracy")}))
"""


def test_mirrored_on_two_logical_cpus_runs_a_smoke_fit(smoke_render, tmp_path):
    render_cfg, _ = smoke_render
    wd = tmp_path / "run"
    p = subprocess.run([sys.executable, "-c", MIRRORED, str(render_cfg.out), str(wd)], cwd=REPO,
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr[-4000:]
    summary = json.loads(p.stdout.split("SUMMARY", 1)[1])
    assert summary["replicas"] == 2 and summary["chief"] and summary["steps"] == 4, summary
    assert 0.0 <= summary["val_accuracy"] <= 1.0
    history = json.loads((wd / "history.json").read_text())
    assert [e["step"] for e in history["epochs"]] == [2, 4]
    assert (wd / "model.keras").exists() and (wd / "checkpoints" / "checkpoint").exists()
