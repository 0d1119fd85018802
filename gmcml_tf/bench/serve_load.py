"""Load test of `gmcml-tf serve`: concurrent clients, a share of malformed requests, RSS.

    python -m gmcml_tf.bench.serve_load [--model-base-path saved_models/NAME] [--seconds 60]
        [--clients 8] [--bad-fraction 0.1] [--json out.json]

Starts `gmcml-tf serve` as a real subprocess (on an untrained default GM-CML exported at
--size when no model is given), warms it up under the same load for --warmup seconds,
then runs --clients threads for --seconds. Each request is good (1 or 2 images, PNG or
JPEG, row or columnar format) or, with probability --bad-fraction, malformed: bad JSON,
bad base64, an unknown signature, a batch over --max-batch, a truncated image, a
20000 x 20000 decompression-bomb header. Checks: no 5xx, every good request answered
200 with one sane prediction per image, every malformed one a 4xx with {"error": ...}.
The server's RSS (VmRSS from /proc/PID/status) is sampled every second; start (ready,
before any request), warm (after the warm-up) and end are reported with growth = end -
warm. Prints the result JSON and writes it to --json; exits 1 on any failed check.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]

BAD_KINDS = ("bad_json", "bad_base64", "wrong_signature", "oversized_batch", "truncated_image",
             "bomb_header")


def _encode(arr: np.ndarray, fmt: str) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def _images(size: int) -> list[bytes]:
    rng = np.random.default_rng(0)
    return [_encode((rng.random((size + 7 * i, size + 5 * i, 3)) * 255).astype(np.uint8), fmt)
            for i, fmt in enumerate(("PNG", "JPEG", "PNG", "JPEG"))]


def _bomb_png(w: int = 20000, h: int = 20000) -> bytes:
    """A tiny PNG whose IHDR (CRC fixed up) declares w x h."""
    data = bytearray(_encode(np.zeros((8, 8, 3), np.uint8), "PNG"))
    data[16:24] = struct.pack(">II", w, h)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode()}


class Requests:
    """The request mix: (kind, body bytes, number of images or 0 for a malformed one)."""

    def __init__(self, size: int, max_batch: int):
        self.images = _images(size)
        truncated = self.images[0][: len(self.images[0]) * 2 // 3]
        self.bad = {
            "bad_json": b'{"instances": [{"b64": "abc"}',
            "bad_base64": json.dumps({"instances": [{"b64": "not*base64!"}]}).encode(),
            "wrong_signature": json.dumps({"signature_name": "nope",
                                           "instances": [_b64(self.images[0])]}).encode(),
            "oversized_batch": json.dumps({"instances": [_b64(self.images[0])] * (max_batch + 1)}).encode(),
            "truncated_image": json.dumps({"instances": [_b64(truncated)]}).encode(),
            "bomb_header": json.dumps({"instances": [_b64(_bomb_png())]}).encode(),
        }

    def draw(self, rng: random.Random, bad_fraction: float) -> tuple[str, bytes, int]:
        if rng.random() < bad_fraction:
            kind = rng.choice(BAD_KINDS)
            return kind, self.bad[kind], 0
        imgs = rng.sample(self.images, rng.choice((1, 1, 1, 2)))
        if rng.random() < 0.8:
            return "good", json.dumps({"instances": [_b64(b) for b in imgs]}).encode(), len(imgs)
        return "good_columnar", json.dumps({"signature_name": "serving_default",
                                            "inputs": {"images": [_b64(b) for b in imgs]}}).encode(), len(imgs)


def _sane(kind: str, payload: dict, n: int, n_classes: int) -> bool:
    if kind == "good":
        preds = payload.get("predictions")
        return (isinstance(preds, list) and len(preds) == n
                and all(len(p["probabilities"]) == n_classes and abs(sum(p["probabilities"]) - 1) < 1e-3
                        and p["class_name"] in p["classes"] for p in preds))
    probs = payload.get("outputs", {}).get("probabilities")
    return isinstance(probs, list) and len(probs) == n and all(abs(sum(p) - 1) < 1e-3 for p in probs)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _client(url, requests, rng, bad_fraction, deadline, n_classes, records, lock):
    import httpx
    with httpx.Client(timeout=60) as client:
        while time.monotonic() < deadline:
            kind, body, n = requests.draw(rng, bad_fraction)
            t0 = time.perf_counter()
            try:
                r = client.post(url, content=body, headers={"content-type": "application/json"})
                status, latency = r.status_code, time.perf_counter() - t0
                try:
                    payload = r.json()
                except ValueError:
                    payload = None
            except httpx.HTTPError as e:  # a dropped connection or a timeout
                status, latency, payload = f"error:{e.__class__.__name__}", time.perf_counter() - t0, None
            ok = None
            if n and status == 200:
                ok = isinstance(payload, dict) and _sane(kind, payload, n, n_classes)
            elif not n:
                ok = isinstance(status, int) and 400 <= status < 500 and isinstance(payload, dict) \
                    and isinstance(payload.get("error"), str)
            with lock:
                records.append((kind, status, latency, bool(n), ok))


def _load(url, requests, clients, seconds, bad_fraction, n_classes, seed) -> tuple[list, float]:
    records, lock = [], threading.Lock()
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=_client, args=(url, requests, random.Random(seed * 1000 + i),
                                                      bad_fraction, deadline, n_classes, records, lock))
               for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return records, time.perf_counter() - t0


def _export_default(size: int, tmp: Path) -> Path:
    from gmcml_tf.bench.serve import _untrained_export
    return _untrained_export(size, tmp)


def run_load(model_base_path: str | Path | None = None, *, seconds: float = 60, clients: int = 8,
             bad_fraction: float = 0.1, warmup: float = 5, size: int = 112, max_batch: int = 8,
             seed: int = 0) -> dict:
    from gmcml_tf.serving.export import read_metadata
    from gmcml_tf.bench.serve import _wait, free_port
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(model_base_path) if model_base_path else _export_default(size, Path(tmp))
        version = max(int(p.name) for p in base.iterdir() if p.name.isdigit())
        meta = read_metadata(base / str(version))
        n_classes = len(meta["class_names"])
        port = free_port()
        log = open(Path(tmp) / "server.log", "w+b")
        proc = subprocess.Popen([sys.executable, "-m", "gmcml_tf.cli", "serve", "--model", str(base),
                                 "--port", str(port), "--max-batch", str(max_batch)],
                                stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        samples, stop = [], threading.Event()
        try:
            root = f"http://127.0.0.1:{port}/v1/models/{base.name}"
            try:
                _wait(root, proc)
            except RuntimeError as e:
                log.seek(0)
                raise RuntimeError(f"{e}\n{log.read().decode(errors='replace')[-3000:]}") from None
            rss_start = rss_mb(proc.pid)

            def sample():
                t0 = time.monotonic()
                while not stop.wait(1.0):
                    try:
                        samples.append((round(time.monotonic() - t0, 1), round(rss_mb(proc.pid), 1)))
                    except (OSError, RuntimeError):
                        return
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            requests = Requests(size, max_batch)
            warm_records, _ = _load(f"{root}:predict", requests, clients, warmup, bad_fraction,
                                    n_classes, seed + 1)
            rss_warm = rss_mb(proc.pid)
            records, wall = _load(f"{root}:predict", requests, clients, seconds, bad_fraction,
                                  n_classes, seed)
            rss_end = rss_mb(proc.pid)
            alive = proc.poll() is None
        finally:
            stop.set()
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.seek(0)
            server_log = log.read().decode(errors="replace")
            log.close()
    return _summary(records + warm_records, records, wall, seconds, clients, bad_fraction, warmup,
                    rss_start, rss_warm, rss_end, samples, alive, server_log,
                    str(base) if model_base_path else f"untrained default GM-CML exported at {size}", meta)


def _summary(all_records, records, wall, seconds, clients, bad_fraction, warmup, rss_start, rss_warm,
             rss_end, samples, alive, server_log, model, meta) -> dict:
    good = [r for r in records if r[3]]
    bad = [r for r in records if not r[3]]
    lat_ms = sorted(r[2] * 1e3 for r in good if r[1] == 200)
    by_kind: dict[str, Counter] = {}
    for kind, status, *_ in records:
        by_kind.setdefault(kind, Counter())[str(status)] += 1
    five_xx = sum(1 for r in all_records if isinstance(r[1], int) and r[1] >= 500)
    dropped_good = sum(1 for r in all_records if r[3] and r[1] != 200)
    insane_good = sum(1 for r in all_records if r[3] and r[1] == 200 and not r[4])
    bad_not_4xx = sum(1 for r in all_records if not r[3] and not r[4])
    result = {
        "requests": len(records), "good_requests": len(good), "malformed_requests": len(bad),
        "seconds": round(wall, 1), "clients": clients, "bad_fraction": bad_fraction,
        "requests_per_s": round(len(records) / wall, 1),
        "good_p50_ms": round(statistics.median(lat_ms), 1) if lat_ms else None,
        "good_p99_ms": round(lat_ms[min(len(lat_ms) - 1, int(0.99 * len(lat_ms)))], 1) if lat_ms else None,
        "status": dict(sorted(Counter(str(r[1]) for r in records).items())),
        "status_by_kind": {k: dict(sorted(v.items())) for k, v in sorted(by_kind.items())},
        "five_xx": five_xx, "dropped_good": dropped_good, "insane_good_answers": insane_good,
        "malformed_not_4xx": bad_not_4xx,
        "rss_start_mb": round(rss_start, 1), "rss_warm_mb": round(rss_warm, 1),
        "rss_end_mb": round(rss_end, 1), "rss_growth_mb": round(rss_end - rss_warm, 1),
        "rss_max_mb": round(max([s[1] for s in samples] + [rss_end]), 1), "rss_samples": samples,
        "warmup_s": warmup, "warmup_requests": len(all_records) - len(records),
        "server_alive_at_end": alive, "server_tracebacks": server_log.count("Traceback"),
        "model": model, "model_image_size": meta.get("image_size"), "cpus": os.cpu_count(),
    }
    result["ok"] = (five_xx == 0 and dropped_good == 0 and insane_good == 0 and bad_not_4xx == 0
                    and alive and result["server_tracebacks"] == 0 and len(good) > 0 and len(bad) > 0)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-base-path", "--model", dest="model",
                   help="saved_models/NAME (default: export an untrained GM-CML at --size)")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--bad-fraction", type=float, default=0.1)
    p.add_argument("--warmup", type=float, default=5, help="seconds of load before measuring")
    p.add_argument("--size", type=int, default=112, help="image size (and export size without --model)")
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the result here")
    args = p.parse_args(argv)
    result = run_load(args.model, seconds=args.seconds, clients=args.clients, bad_fraction=args.bad_fraction,
                      warmup=args.warmup, size=args.size, max_batch=args.max_batch, seed=args.seed)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    if not result["ok"]:
        print(f"serve_load: FAILED: {result['five_xx']} 5xx, {result['dropped_good']} good requests not "
              f"answered 200, {result['insane_good_answers']} insane answers, {result['malformed_not_4xx']} "
              f"malformed requests not 4xx, server alive {result['server_alive_at_end']}, "
              f"{result['server_tracebacks']} tracebacks in its log", file=sys.stderr)
        return 1
    print(f"serve_load: OK: {result['requests']} requests in {result['seconds']} s "
          f"({result['requests_per_s']}/s), p50 {result['good_p50_ms']} ms, p99 {result['good_p99_ms']} ms, "
          f"0 5xx, RSS {result['rss_start_mb']} -> {result['rss_warm_mb']} -> {result['rss_end_mb']} MB",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
