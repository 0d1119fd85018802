"""The background-leakage audit's data: the exact background behind every rendered view.

Blacking out the object is not enough — the black silhouette still shows the shape, and a
classifier reads the category from it (75.6 % on the shared-mesh renders in a trial here).
So the audit regenerates each view's background crop instead: the renderer draws it from
the view's recorded seed (after the four lighting draws, tfrecords_tools.worker), and the
regenerated crop's id is checked against the record's `background/id`. A classifier
trained on these pure backgrounds scores near chance only if the backgrounds carry no label.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from gmcml_tf.data import list_shards
from tfrecords_tools import schema
from tfrecords_tools.compose import BackgroundPool
from tfrecords_tools.configlib import from_dict
from tfrecords_tools.render_config import RenderConfig
from tfrecords_tools.worker import light_from


def regenerate(data_dir: str | Path, split: str, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(backgrounds uint8 (N, S, S, 3), labels (N,)) for every record of `split`."""
    cfg = from_dict(RenderConfig, json.loads((Path(data_dir) / "manifest.json").read_text())["config"])
    pool = BackgroundPool(cfg.backgrounds, scale=cfg.background_scale, flip=cfg.background_flip)
    images, labels = [], []
    for shard in list_shards(str(data_dir), split):
        for payload in schema.read_records(shard):
            ex = schema.decode_example(payload)
            rng = np.random.default_rng(ex["seed"])
            light_from(rng, 0.0, cfg.light)  # the same four draws the renderer made first
            bg_id, bg = pool.sample(rng, cfg.size)
            expected = ex["background/id"].decode()
            if bg_id != expected:
                raise ValueError(f"{shard}: regenerated background {bg_id!r} != recorded {expected!r}")
            bg = np.zeros((cfg.size, cfg.size, 3), np.uint8) if bg is None else bg
            images.append(np.asarray(Image.fromarray(np.ascontiguousarray(bg)).resize(
                (image_size, image_size), Image.BOX)))
            labels.append(ex["label"])
    return np.stack(images), np.asarray(labels, np.int32)


def dataset_fn_for(data_dir: str | Path):
    """A `make_dataset` stand-in (same keyword arguments) yielding the pure backgrounds."""
    import tensorflow as tf
    cache: dict = {}

    def fn(_data_dir, split, *, image_size, batch_size, training=True, seed=0, **_):
        if (split, image_size) not in cache:
            cache[(split, image_size)] = regenerate(data_dir, split, image_size)
        images, labels = cache[(split, image_size)]
        ds = tf.data.Dataset.from_tensor_slices((images, labels))
        if training:
            ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True).repeat()
        zeros = tf.zeros((image_size, image_size, 3), tf.float32)

        def to_batch(img, label):
            return {"image": tf.cast(img, tf.float32) / 255.0, "mask": zeros,
                    "alpha": zeros[..., :1], "label": label}
        return ds.map(to_batch).batch(batch_size, drop_remainder=training).prefetch(2)
    return fn
