"""Latency of `gmcml-tf serve` on its first request and while a new version loads.

    python -m gmcml_tf.bench.serve_versions [--size 112] [--requests 60] [--json out.json]

Exports an untrained default GM-CML at --size as version 1, starts `gmcml-tf serve` as a
real subprocess and times, at concurrency 1 with one PNG per request:
- the first predict after the URL answers, against the median of --requests more;
- every predict while version 2 (exported beforehand into a staging folder and renamed
  into the model folder, as `gmcml-tf export` does) is loaded and warmed up by the
  server, until the status shows 2 AVAILABLE and 1 END, and --requests more after.
Reports both as ratios to the median (target: ≤ 6). Exits 1 on a non-200 answer.
"""
from __future__ import annotations

import argparse
import base64
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gmcml_tf.bench import machine

REPO = Path(__file__).resolve().parents[2]


def main(argv=None) -> int:
    import httpx

    from gmcml_tf.bench.serve import _png, _untrained_export, _wait, free_port
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = _untrained_export(args.size, tmp / "v1")
        staged = _untrained_export(args.size, tmp / "v2") / "1"
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "gmcml_tf.cli", "serve", "--model", str(base),
                                 "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        root = f"http://127.0.0.1:{port}/v1/models/{base.name}"
        body = {"instances": [{"b64": base64.b64encode(_png(args.size)).decode()}]}
        try:
            _wait(root, proc, timeout=600)
            with httpx.Client(timeout=600) as client:
                def predict() -> float:
                    t0 = time.perf_counter()
                    r = client.post(f"{root}:predict", json=body)
                    if r.status_code != 200:
                        raise SystemExit(f"predict answered {r.status_code}: {r.text[:200]}")
                    return time.perf_counter() - t0

                first = predict()
                steady = [predict() for _ in range(args.requests)]
                median = statistics.median(steady)
                staged.rename(base / "2")
                t_swap, swap = time.perf_counter(), []
                while True:
                    swap.append(predict())
                    states = [(s["version"], s["state"]) for s in
                              client.get(root).json()["model_version_status"]]
                    if states == [("2", "AVAILABLE"), ("1", "END")]:
                        break
                    if time.perf_counter() - t_swap > 600:
                        raise SystemExit(f"version 2 not AVAILABLE after 600 s: {states}")
                load_s = time.perf_counter() - t_swap
                swap += [predict() for _ in range(args.requests)]
        finally:
            proc.terminate()
            proc.wait(10)
    result = {
        "cpu": machine()["processor"], "cpus": len(__import__("os").sched_getaffinity(0)), "size": args.size,
        "median_ms": round(median * 1e3, 2), "first_ms": round(first * 1e3, 2),
        "first_ratio": round(first / median, 2),
        "swap_requests": len(swap), "swap_load_s": round(load_s, 2),
        "swap_max_ms": round(max(swap) * 1e3, 2), "swap_max_ratio": round(max(swap) / median, 2),
        "target_ratio": 6.0,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
