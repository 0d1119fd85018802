"""`bench_input`: throughput of the input pipeline alone (no model), for `gmcml-tf bench input`."""
from __future__ import annotations

import time

from gmcml_tf.data.pipeline import make_dataset
from gmcml_tf.data.samplers import SET_SIZE


def bench_input(data_dir: str, *, image_size: int, batch_size: int, triplets: bool,
                steps: int = 50, split: str = "train") -> dict:
    """Images per second of `steps` training batches, after one warm-up batch.

    The warm-up excludes start-up (shard scan, the triplet index pass, tf.data
    function tracing, filling the shuffle buffer) from the figure.
    """
    ds = make_dataset(data_dir, split, image_size=image_size, batch_size=batch_size,
                      triplets=triplets, training=True, repeat=True)
    it = iter(ds)
    next(it)
    t0 = time.perf_counter()
    for _ in range(steps):
        batch = next(it)
    batch["image"].numpy()  # the last batch is really computed
    seconds = time.perf_counter() - t0
    rows = batch_size * (SET_SIZE if triplets else 1)
    return {"input_images_per_s": round(steps * rows / seconds, 1), "batches": steps,
            "image_size": image_size, "batch_size": batch_size, "triplets": triplets,
            "seconds": round(seconds, 3)}
