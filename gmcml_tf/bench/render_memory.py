"""Resident memory of one render worker over a long run (one ViewRenderer, one GL context).

    .venv/bin/python -m gmcml_tf.bench.render_memory --views 10000

Renders full records (render, composite, 4 PNGs, serialised Example) for procedural
models in the planned order, so meshes are loaded, cached and evicted as in a real
run, and prints RSS every --every views. Flat RSS after warm-up = no growth per model.
"""
from __future__ import annotations

import argparse
import json
import os
import time


def rss_mib() -> float:
    try:
        import psutil
        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        with open("/proc/self/status") as f:
            kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return kib / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--views", type=int, default=10000)
    p.add_argument("--every", type=int, default=1000)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--models-per-category", type=int, default=20, help="procedural models per category")
    p.add_argument("--json", help="also write the samples here")
    a = p.parse_args()

    from tfrecords_tools.plan import make_shards
    from tfrecords_tools.render_config import RenderConfig
    from tfrecords_tools.worker import ViewRenderer

    models = 12 * a.models_per_category
    cfg = RenderConfig(meshes="procedural", procedural_per_category=a.models_per_category, size=a.size,
                       views_per_model=-(-a.views // models), val_fraction=0.0, workers=1)
    samples = [{"views": 0, "rss_mib": round(rss_mib(), 1), "seconds": 0.0}]
    worker = ViewRenderer(cfg)
    units = [u for t in make_shards(worker.source.models(), cfg) for u in t.units][:a.views]
    samples.append({"views": 0, "rss_mib": round(rss_mib(), 1), "seconds": 0.0, "note": "renderer ready"})
    print(json.dumps(samples[0]), json.dumps(samples[1]), sep="\n", flush=True)
    t0 = time.perf_counter()
    n_bytes = 0
    for i, unit in enumerate(units, 1):
        n_bytes += len(worker.render_unit(unit, "train"))
        if i % a.every == 0 or i == len(units):
            s = {"views": i, "rss_mib": round(rss_mib(), 1), "seconds": round(time.perf_counter() - t0, 1)}
            samples.append(s)
            print(json.dumps(s), flush=True)
    result = {"size": a.size, "models": models, "views": len(units), "pid": os.getpid(),
              "record_mib": round(n_bytes / 2**20, 1), "samples": samples}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    first = next((s for s in samples if s["views"] >= a.every), samples[-1])
    print(f"RSS: start {samples[0]['rss_mib']} MiB, renderer ready {samples[1]['rss_mib']} MiB, "
          f"after {first['views']} views {first['rss_mib']} MiB, after {samples[-1]['views']} views "
          f"{samples[-1]['rss_mib']} MiB ({models} models, {a.size} px)")


if __name__ == "__main__":
    main()
