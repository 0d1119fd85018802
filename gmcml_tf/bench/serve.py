"""`gmcml-tf bench serve`: single-image predict requests over real HTTP on localhost.

The server runs in its own process (`gmcml-tf serve`), as in production, so the
client's threads do not compete with it for the GIL. Latency is measured per request
at concurrency 1, 8 and 32 after a warm-up; the image is a 112² PNG by default. Beside it, the
in-process floor: one image a call, and how much 8 images a call multiply throughput. The
client and the server share the machine's cores: the CPU time a request costs each of them
is reported (the server's from /proc, Linux only), beside the CPU time of one in-process call.
"""
from __future__ import annotations

import base64
import json
import os
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


def _untrained_export(size: int, tmp: Path, classes: int = 12) -> Path:
    """The default GM-CML (authors' widths) at `size` with `classes` outputs, exported; weights do
    not change the cost."""
    from gmcml_tf.serving.export import export
    from gmcml_tf.models.gmcml import GMCML
    model = GMCML(image_size=size, num_classes=classes, seed=0)
    model(np.zeros((1, size, size, 3), np.float32))
    export(model, tmp / "gmcml", image_size=size, class_names=[f"class {i}" for i in range(classes)])
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


class _Client:
    """One keep-alive HTTP/1.1 connection (stdlib http.client), the measuring instrument. It
    shares the machine's cores with the server, so its own CPU a request must stay small: a
    bare connection, no client library's machinery. `reconnects` counts requests sent again
    on a new connection because the server had closed the old one."""

    def __init__(self, url: str):
        import urllib.parse
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = u.hostname, u.port, u.path
        self.conn = None
        self.reconnects = 0

    def post(self, body: bytes) -> int:
        """The status code; the response is read whole, as a client would."""
        import http.client
        try:
            return self._post(body)
        except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest):
            self.close()  # the server closed the keep-alive connection: reopen it, once
            self.reconnects += 1
            return self._post(body)

    def _post(self, body: bytes) -> int:
        import http.client
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        self.conn.request("POST", self.path, body=body, headers={"Content-Type": "application/json"})
        r = self.conn.getresponse()
        r.read()
        return r.status

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _latencies(clients: list[_Client], body: bytes, n: int) -> tuple[list[float], float, int]:
    """Latencies of `n` requests from the clients at once (one thread each), the wall time, and
    the 5xx count. A 4xx is the benchmark's own mistake and stops it."""

    def worker(client: _Client, count: int) -> tuple[list[float], int]:
        out, errors = [], 0
        for _ in range(count):
            t0 = time.perf_counter()
            status = client.post(body)
            out.append(time.perf_counter() - t0)
            errors += status >= 500
            if 400 <= status < 500:
                raise RuntimeError(f"the server answered {status} to the benchmark's request")
        return out, errors

    k = len(clients)
    per = [n // k + (i < n % k) for i in range(k)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(k) as pool:
        chunks = list(pool.map(worker, clients, per))
    return [x for c, _ in chunks for x in c], time.perf_counter() - t0, sum(e for _, e in chunks)


class _Floor:
    """The floor under the server, gathered over rounds: the same signature on the same bytes,
    called in this process. `one`: latencies of one image a call; `eight`: of 8 a call (the
    most that merging 8 concurrent requests into one call can multiply throughput by here);
    `cpu`: CPU seconds of one image a call, per round."""

    def __init__(self, fn, png: bytes):
        import tensorflow as tf
        self.fn, self.one_image, self.eight_images = fn, tf.constant([png]), tf.constant([png] * 8)
        self.one, self.eight, self.cpu = [], [], []

    def _times(self, images, calls: int) -> list[float]:
        for _ in range(3):
            self.fn(images=images)
        out = []
        for _ in range(calls):
            t0 = time.perf_counter()
            self.fn(images=images)
            out.append(time.perf_counter() - t0)
        return out

    def measure(self, n: int = 100) -> list[float]:
        """One round; returns its one-image latencies."""
        c0 = time.process_time()
        one = self._times(self.one_image, n)
        self.cpu.append((time.process_time() - c0) / (n + 3))
        self.one += one
        self.eight += self._times(self.eight_images, n // 4)
        return one

    def result(self) -> dict:
        one, eight = statistics.median(self.one), statistics.median(self.eight)
        return {"in_process_p50_ms": round(one * 1e3, 2), "in_process_batch8_ms": round(eight * 1e3, 2),
                "in_process_throughput_8_over_1": round(8 * one / eight, 2),
                "in_process_cpu_ms_per_call": round(statistics.median(self.cpu) * 1e3, 2)}


class _Tally:
    """One concurrency's requests over all rounds: latencies, wall time, and the CPU seconds they
    cost the client (this process) and the server (None once /proc could not be read)."""

    def __init__(self):
        self.lat, self.wall, self.client_cpu, self.server_cpu = [], 0.0, 0.0, 0.0

    def run(self, clients: list[_Client], body: bytes, n: int, server_pid: int) -> tuple[list[float], int]:
        """n requests; returns their latencies and the 5xx count."""
        c0, s0 = time.process_time(), _cpu_seconds(server_pid)
        got, seconds, errors = _latencies(clients, body, n)
        self.client_cpu += time.process_time() - c0
        s1 = _cpu_seconds(server_pid)
        if self.server_cpu is None or s0 is None or s1 is None:
            self.server_cpu = None  # no figure rather than a wrong one
        else:
            self.server_cpu += s1 - s0
        self.lat += got
        self.wall += seconds
        return got, errors

    def result(self) -> dict:
        per = 1e3 / len(self.lat)
        return {**_stats(self.lat, self.wall), "client_cpu_ms_per_request": round(self.client_cpu * per, 2),
                "server_cpu_ms_per_request": None if self.server_cpu is None
                else round(self.server_cpu * per, 2)}


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system, all threads) of process `pid` so far; None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stats(lat: list[float], wall: float) -> dict:
    lat_ms = sorted(x * 1e3 for x in lat)
    return {"p50_ms": round(statistics.median(lat_ms), 2),
            "p99_ms": round(lat_ms[min(len(lat_ms) - 1, int(0.99 * len(lat_ms)))], 2),
            "requests_per_s": round(len(lat) / wall, 1), "requests": len(lat)}


def bench_serve(model: str | None = None, size: int = 112, requests: int = 200,
                concurrency: tuple[int, ...] = (1, 8, 32), batching: bool = True, rounds: int = 3,
                classes: int = 12) -> dict:
    """The in-process latency of the signature (the floor), then the server at each
    concurrency: p50, p99, requests/s, and the CPU time a request costs the client and the
    server; 5xx answers counted. The floor and the concurrencies alternate for `rounds` rounds
    (at least `requests` per concurrency in all, and 4 per client a round), so a slow spell of the
    machine hits the floor and the server alike instead of skewing their ratio. Each client
    keeps one connection from its untimed warm-up request to the end. Targets: at concurrency 1
    p50 within 1.3x in-process; at 8, throughput >= 3x concurrency 1 with p99 <= 4x its p50;
    no 5xx."""
    import tensorflow as tf
    from gmcml_tf.serving.export import read_metadata
    from gmcml_tf.serving.repository import version_dir
    with tempfile.TemporaryDirectory() as tmp:
        path = version_dir(model or _untrained_export(size, Path(tmp), classes))  # NotFound: one line
        base = path.parent
        meta = read_metadata(path)
        model_mb = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2 ** 20
        png = _png(size)
        floor = _Floor(tf.saved_model.load(str(path)).signatures["serving_default"], png)
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "gmcml_tf.cli", "serve", "--model", str(path),
                                 "--port", str(port), "--enable_batching", "true" if batching else "false"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        errors, by_round, clients = 0, [], {}
        tallies = {c: _Tally() for c in concurrency}
        per_round = {c: max(-(-requests // rounds), 4 * c) for c in concurrency}
        try:
            root = f"http://127.0.0.1:{port}/v1/models/{base.name}"
            _wait(root, proc)
            body = json.dumps({"instances": [{"b64": base64.b64encode(png).decode()}]}).encode()
            clients = {c: [_Client(f"{root}:predict") for _ in range(c)] for c in concurrency}
            _latencies(clients[min(concurrency)], body, 10)  # warm-up: graph tracing, allocations
            for c in concurrency:  # connect every client before anything is timed
                _latencies(clients[c], body, c)
            for _ in range(rounds):
                floor_round = floor.measure()
                for c in concurrency:
                    got, e = tallies[c].run(clients[c], body, per_round[c], proc.pid)
                    errors += e
                    if c == 1:
                        by_round.append(round(statistics.median(got) / statistics.median(floor_round), 2))
        finally:
            reconnects = sum(cl.reconnects for group in clients.values() for cl in group)
            for group in clients.values():
                for client in group:
                    client.close()
            proc.terminate()
            proc.wait(10)
    runs = {str(c): t.result() for c, t in tallies.items()}
    result = {**floor.result(), "concurrency": runs, "errors_5xx": errors, "size": size,
              "model_mb": round(model_mb, 2), "model_image_size": meta["image_size"],
              "model_classes": len(meta["class_names"]), "rounds": rounds,
              "reconnects": reconnects, "batching": batching,
              "client": "stdlib http.client, one keep-alive connection per client thread"}
    one, eight = runs.get("1"), runs.get("8")
    if one:
        result["p50_over_in_process"] = round(one["p50_ms"] / result["in_process_p50_ms"], 2)
        result["p50_over_in_process_by_round"] = by_round
    if one and eight:
        result["throughput_8_over_1"] = round(eight["requests_per_s"] / one["requests_per_s"], 2)
        result["p99_over_p50_at_8"] = round(eight["p99_ms"] / eight["p50_ms"], 2)
    result["targets"] = {"p50_over_in_process": 1.3, "throughput_8_over_1": 3.0, "p99_over_p50_at_8": 4.0,
                         "errors_5xx": 0}
    result["machine"] = machine()
    return result
