"""Benchmarks (figures for the README, never timed tests): `gmcml-tf bench render|train`
(render_train.py), `bench input` (input.py), `bench serve` (serve.py), and the long
measurements run as modules: `python -m gmcml_tf.bench.serve_load`, `.serve_versions`,
`.render_memory`, `.multiworker_local`."""

import os
import platform
from pathlib import Path

# Absolute figures differ 2-3x between CPUs with and without AVX-512: every result names its
# CPU and the vector extensions TensorFlow and Mesa can use.
_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile")


def machine() -> dict:
    """{"cpus", "processor" (model name), "flags" (of _FLAGS, those the CPU has)}."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "processor": name, "flags": [f for f in _FLAGS if f in flags]}
