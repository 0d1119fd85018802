"""Launch N `gmcml-tf fit` workers on this machine (MultiWorkerMirroredStrategy, TF_CONFIG).

    .venv/bin/python -m gmcml_tf.bench.multiworker_local --config configs/smoke.yaml \\
        --data data_out/smoke --workdir runs/mw --workers 2 [--set KEY=VALUE ...]

Picks free ports on 127.0.0.1, starts N `python -m gmcml_tf.cli fit ... --set
train.strategy=multi_worker` processes, each with its own TF_CONFIG (worker 0 is the
chief), waits for all of them and prints the wall time (and writes --json). With
--workers 1 it runs the same command with one worker (the baseline). The workers share
this machine's cores: the figures show the cost of the collectives and the duplicated
input pipelines, not a cluster's scaling. Logs: WORKDIR/.logs/worker-<i>.log.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_ports(n: int) -> list[int]:
    """n distinct free ports on 127.0.0.1 (bound to port 0, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tf_configs(n: int, ports: list[int] | None = None) -> list[str]:
    """TF_CONFIG of each of n workers on 127.0.0.1 (worker 0 is the chief)."""
    ports = ports or free_ports(n)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
            for i in range(n)]


def start_workers(config: str, data: str, workdir: str, n: int, extra=(), logs: Path | None = None,
                  progress: bool = False) -> list[subprocess.Popen]:
    """Start n fit processes (stdout+stderr to logs/worker-<i>.log); returns the Popens."""
    logs = Path(logs or Path(workdir) / ".logs")
    logs.mkdir(parents=True, exist_ok=True)
    procs = []
    for i, tf_config in enumerate(tf_configs(n)):
        cmd = [sys.executable, "-m", "gmcml_tf.cli", "fit", "--config", str(config), "--data",
               str(data), "--workdir", str(workdir), *([] if progress else ["--no-progress"]),
               "--set", "train.strategy=multi_worker", *[a for kv in extra for a in ("--set", kv)]]
        e = {**os.environ, "TF_CONFIG": tf_config, "TF_CPP_MIN_LOG_LEVEL": "2"}
        log = open(logs / f"worker-{i}.log", "ab")
        procs.append(subprocess.Popen(cmd, cwd=REPO, env=e, stdout=log, stderr=subprocess.STDOUT))
        log.close()
    return procs


def wait_all(procs: list[subprocess.Popen], timeout: float) -> list[int]:
    """Exit codes; kills every worker still running at the deadline (then raises)."""
    deadline = time.monotonic() + timeout
    try:
        return [p.wait(timeout=max(1.0, deadline - time.monotonic())) for p in procs]
    except subprocess.TimeoutExpired:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        raise


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds before all are killed")
    p.add_argument("--json", help="also write the result here")
    a = p.parse_args()
    t0 = time.perf_counter()
    procs = start_workers(a.config, a.data, a.workdir, a.workers, a.set)
    codes = wait_all(procs, a.timeout)
    wall = time.perf_counter() - t0
    history = Path(a.workdir) / "history.json"
    epochs = json.loads(history.read_text())["epochs"] if history.exists() else []
    result = {"workers": a.workers, "exit_codes": codes, "wall_s": round(wall, 1),
              "steps": epochs[-1]["step"] if epochs else None,
              "epoch_seconds": [e["seconds"] for e in epochs], "cpus": os.cpu_count()}
    print(json.dumps(result))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0 if not any(codes) else 1


if __name__ == "__main__":
    sys.exit(main())
