"""`bench_input`: throughput of the input pipeline alone (no model), for `gmcml-tf bench input`."""
from __future__ import annotations

import os
import time

from gmcml_tf.data.pipeline import make_dataset
from gmcml_tf.vocabulary import SET_SIZE


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def bench_input(data_dir: str, *, image_size: int, batch_size: int, triplets: bool,
                steps: int = 50, split: str = "train", cache: bool = False, augment=None,
                balanced: bool = False) -> dict:
    """Images per second over `steps` training batches, after one warm-up batch.

    The warm-up keeps start-up (shard check, the triplet index pass, tracing, the
    first fill of the shuffle buffer) out of the figure. `cpu_ms_per_image` (this
    process, all threads) stays meaningful when other jobs share the cores.
    """
    ds = make_dataset(data_dir, split, image_size=image_size, batch_size=batch_size,
                      triplets=triplets, training=True, repeat=True, cache=cache,
                      augment=augment, balanced=balanced)
    it = iter(ds)
    next(it)
    t0, c0 = time.perf_counter(), _cpu_seconds()
    for _ in range(steps):
        batch = next(it)
    batch["image"].numpy()  # the last batch is really computed
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    images = steps * batch_size * (SET_SIZE if triplets else 1)
    return {"input_images_per_s": round(images / seconds, 1), "batches": steps,
            "image_size": image_size, "batch_size": batch_size, "triplets": triplets,
            "cache": cache, "augment": bool(augment and augment.enabled), "balanced": balanced,
            "seconds": round(seconds, 3),
            "cpu_ms_per_image": round(1e3 * cpu / images, 3), "cores": os.cpu_count()}
