"""`gmcml-tf bench serve`: single-image predict requests over real HTTP on localhost.

The server runs in its own process (`gmcml-tf serve`), as in production, so the
client's threads do not compete with it for the GIL. Latency is measured per request
at concurrency 1, 8 and 32 after a warm-up; the image is a 112² PNG by default. Beside it, the
in-process floor: one image a call, and how much 8 images a call multiply throughput.
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

from gmcml_tf.bench import machine


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


def _latencies(url: str, body: dict, n: int, concurrency: int) -> tuple[list[float], float, int]:
    """Latencies of `n` requests from `concurrency` clients, the wall time, and the 5xx count."""
    import httpx

    def worker(count: int) -> tuple[list[float], int]:
        out, errors = [], 0
        with httpx.Client(timeout=120) as client:
            for _ in range(count):
                t0 = time.perf_counter()
                r = client.post(url, json=body)
                out.append(time.perf_counter() - t0)
                errors += r.status_code >= 500
                if r.status_code < 500:
                    r.raise_for_status()
        return out, errors

    per = [n // concurrency + (i < n % concurrency) for i in range(concurrency)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        chunks = list(pool.map(worker, per))
    return [x for c, _ in chunks for x in c], time.perf_counter() - t0, sum(e for _, e in chunks)


def _in_process(version_dir: Path, png: bytes, n: int = 200) -> dict:
    """The floor under the server: the same signature on the same bytes, called in this
    process: the p50 of one image a call, and the images/s of 8 a call against 1 — the most
    that merging 8 concurrent requests into one call can multiply throughput by here."""
    import tensorflow as tf
    fn = tf.saved_model.load(str(version_dir)).signatures["serving_default"]

    def p50(images, calls):
        for _ in range(5):
            fn(images=images)
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            fn(images=images)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)
    one, eight = p50(tf.constant([png]), n), p50(tf.constant([png] * 8), n // 4)
    return {"in_process_p50_ms": round(one * 1e3, 2), "in_process_batch8_ms": round(eight * 1e3, 2),
            "in_process_throughput_8_over_1": round(8 * one / eight, 2)}


def _stats(lat: list[float], wall: float) -> dict:
    lat_ms = sorted(x * 1e3 for x in lat)
    return {"p50_ms": round(statistics.median(lat_ms), 2),
            "p99_ms": round(lat_ms[min(len(lat_ms) - 1, int(0.99 * len(lat_ms)))], 2),
            "requests_per_s": round(len(lat) / wall, 1)}


def bench_serve(model: str | None = None, size: int = 112, requests: int = 200,
                concurrency: tuple[int, ...] = (1, 8, 32), batching: bool = True) -> dict:
    """The in-process latency of the signature (the floor), then the server at each
    concurrency: p50, p99, requests/s; 5xx answers counted. Targets: at concurrency 1 p50 within
    1.3x in-process; at 8, throughput >= 3x concurrency 1 with p99 <= 4x its p50; no 5xx."""
    from gmcml_tf.serving.export import read_metadata
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(model) if model else _untrained_export(size, Path(tmp))
        versions = sorted(int(p.name) for p in base.iterdir() if p.name.isdigit())
        meta = read_metadata(base / str(versions[-1]))
        model_mb = sum(p.stat().st_size for p in (base / str(versions[-1])).rglob("*")
                       if p.is_file()) / 2 ** 20
        port = free_port()
        png = _png(size)
        floor = _in_process(base / str(versions[-1]), png)
        in_process = floor["in_process_p50_ms"]
        proc = subprocess.Popen([sys.executable, "-m", "gmcml_tf.cli", "serve", "--model", str(base),
                                 "--port", str(port), "--enable_batching", "true" if batching else "false"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        errors = 0
        try:
            root = f"http://127.0.0.1:{port}/v1/models/{base.name}"
            _wait(root, proc)
            body = {"instances": [{"b64": base64.b64encode(png).decode()}]}
            _latencies(f"{root}:predict", body, 10, 1)  # warm-up: graph tracing, allocations
            runs = {}
            for c in concurrency:
                lat, wall, e = _latencies(f"{root}:predict", body, max(requests, 4 * c), c)
                runs[str(c)] = _stats(lat, wall)
                errors += e
        finally:
            proc.terminate()
            proc.wait(10)
    result = {**floor, "concurrency": runs, "errors_5xx": errors, "size": size,
              "model_mb": round(model_mb, 2), "model_image_size": meta["image_size"], "requests": requests,
              "batching": batching}
    one, eight = runs.get("1"), runs.get("8")
    if one:
        result["p50_over_in_process"] = round(one["p50_ms"] / in_process, 2)
    if one and eight:
        result["throughput_8_over_1"] = round(eight["requests_per_s"] / one["requests_per_s"], 2)
        result["p99_over_p50_at_8"] = round(eight["p99_ms"] / eight["p50_ms"], 2)
    result["targets"] = {"p50_over_in_process": 1.3, "throughput_8_over_1": 3.0, "p99_over_p50_at_8": 4.0,
                         "errors_5xx": 0}
    result["machine"] = machine()
    return result
