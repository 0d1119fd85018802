"""`gmcml-tf bench serve`: single-image predict requests over real HTTP on localhost.

The server runs in its own process (`gmcml-tf serve`), as in production, so the
client's threads do not compete with it for the GIL. Latency is measured per request
at concurrency 1 and 8 after a warm-up; the image is a 112² PNG by default.
"""
from __future__ import annotations

import base64
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (bind to 0, read it back)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _png(size: int) -> bytes:
    import io
    from PIL import Image
    arr = (np.random.default_rng(0).random((size, size, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _untrained_export(size: int, tmp: Path) -> Path:
    """The default GM-CML (authors' widths) at `size`, exported; weights do not change the cost."""
    from gmcml_tf.serving.export import export
    from gmcml_tf.models.gmcml import GMCML
    from tfrecords_tools.categories import CATEGORIES
    model = GMCML(image_size=size, num_classes=len(CATEGORIES), seed=0)
    model(np.zeros((1, size, size, 3), np.float32))
    export(model, tmp / "gmcml", image_size=size, class_names=list(CATEGORIES))
    return tmp / "gmcml"


def _wait(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    import httpx
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not become ready")


def _latencies(url: str, body: dict, n: int, concurrency: int) -> tuple[list[float], float]:
    import httpx

    def worker(count: int) -> list[float]:
        out = []
        with httpx.Client(timeout=60) as client:
            for _ in range(count):
                t0 = time.perf_counter()
                r = client.post(url, json=body)
                out.append(time.perf_counter() - t0)
                r.raise_for_status()
        return out

    per = [n // concurrency + (i < n % concurrency) for i in range(concurrency)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = [x for chunk in pool.map(worker, per) for x in chunk]
    return results, time.perf_counter() - t0


def bench_serve(model: str | None = None, size: int = 112, requests: int = 200) -> dict:
    from gmcml_tf.serving.export import read_metadata
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(model) if model else _untrained_export(size, Path(tmp))
        versions = sorted(int(p.name) for p in base.iterdir() if p.name.isdigit())
        meta = read_metadata(base / str(versions[-1]))
        model_mb = sum(p.stat().st_size for p in (base / str(versions[-1])).rglob("*")
                       if p.is_file()) / 2 ** 20
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "gmcml_tf.cli", "serve", "--model", str(base),
                                 "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            root = f"http://127.0.0.1:{port}/v1/models/{base.name}"
            _wait(root, proc)
            body = {"instances": [{"b64": base64.b64encode(_png(size)).decode()}]}
            _latencies(f"{root}:predict", body, 10, 1)  # warm-up: graph tracing, allocations
            result = {"size": size, "model_mb": round(model_mb, 2), "model_image_size": meta["image_size"],
                      "requests": requests, "runs": {}}
            for c in (1, 8):
                lat, wall = _latencies(f"{root}:predict", body, requests, c)
                lat_ms = sorted(x * 1e3 for x in lat)
                result["runs"][str(c)] = {
                    "p50_ms": round(statistics.median(lat_ms), 2),
                    "p99_ms": round(lat_ms[min(len(lat_ms) - 1, int(0.99 * len(lat_ms)))], 2),
                    "requests_per_s": round(len(lat) / wall, 1), "concurrency": c}
        finally:
            proc.terminate()
            proc.wait(10)
    one = result["runs"]["1"]
    return {"p50_ms": one["p50_ms"], "p99_ms": one["p99_ms"], "requests_per_s": one["requests_per_s"],
            "concurrency": 1, **result, "target": {"p50_ms": 20, "size": 112}}
