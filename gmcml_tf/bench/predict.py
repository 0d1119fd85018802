"""`gmcml-tf bench predict`: where the wall time of `gmcml-tf predict IMAGE` goes, against the
floor of `python -c "import tensorflow"` (target: predict within that + 3 s), each the best of
`rounds` fresh processes, on the same machine in one run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gmcml_tf.bench import machine

_PHASES = r"""
import json, sys, time
t0 = time.perf_counter()
import tensorflow as tf
t1 = time.perf_counter()
from gmcml_tf.serving.client import one_shot_graphs, read_images
one_shot_graphs()  # as `gmcml-tf predict` does
images = read_images([sys.argv[2]])
t2 = time.perf_counter()
from gmcml_tf.serving.repository import load_servable, list_versions, resolve_model_dir
base, version = resolve_model_dir(sys.argv[1])
servable = load_servable(base / str(version or list_versions(base)[-1]))
t3 = time.perf_counter()
fn = servable.signature("serving_default")
fn(images=tf.constant([images[0]]))
t4 = time.perf_counter()
fn(images=tf.constant([images[0]]))
t5 = time.perf_counter()
print(json.dumps({"import_tensorflow_s": t1 - t0, "import_ours_and_read_image_s": t2 - t1,
                  "load_savedmodel_s": t3 - t2, "first_call_s": t4 - t3, "second_call_s": t5 - t4}))
"""


def _wall(cmd: list[str], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        best = min(best, time.perf_counter() - t0)
    return best


def bench_predict(model: str | None = None, rounds: int = 3, size: int = 112) -> dict:
    from gmcml_tf.bench.serve import _png, _untrained_export
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(model) if model else _untrained_export(size, Path(tmp))
        image = Path(tmp) / "photo.png"
        image.write_bytes(_png(size))
        bare = _wall([sys.executable, "-c", "import tensorflow"], rounds)
        full = _wall([sys.executable, "-m", "gmcml_tf.cli", "predict", str(image), "--model", str(base)], rounds)
        phases = json.loads(subprocess.run([sys.executable, "-c", _PHASES, str(base), str(image)], check=True,
                                           capture_output=True, text=True).stdout.strip().splitlines()[-1])
    return {"import_tensorflow_s": round(bare, 2), "predict_s": round(full, 2),
            "predict_over_import_s": round(full - bare, 2), "target_over_import_s": 3.0,
            "phases": {k: round(v, 3) for k, v in phases.items()}, "rounds": rounds,
            "machine": machine()}
