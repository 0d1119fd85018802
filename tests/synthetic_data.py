"""A stand-in for `gmcml_tf.data.make_dataset` (same signature and element format) over
random, learnable tensors: each class has its own tint in O and its flat colour in M."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from gmcml_tf.vocabulary import SET_SIZE


def _examples(n, size, rng, num_classes=12):
    labels = np.arange(n) % num_classes
    colours = np.random.default_rng(123).random((num_classes, 3)).astype(np.float32)
    yy, xx = np.mgrid[:size, :size]
    blob = (((yy - size / 2) ** 2 + (xx - size / 2) ** 2) < (size / 3) ** 2).astype(np.float32)
    alpha = np.repeat(blob[None, :, :, None], n, 0)
    mask = alpha * colours[labels][:, None, None, :]
    image = 0.6 * mask + 0.4 * rng.random((n, size, size, 3), dtype=np.float32)
    return {"image": image.astype(np.float32), "mask": mask.astype(np.float32),
            "label": labels.astype(np.int32), "alpha": alpha.astype(np.float32)}


def make_dataset(data_dir, split, *, image_size, batch_size, triplets=False, background=True,
                 close_only=False, training=True, seed=0, shuffle_buffer=2048, cache=False,
                 repeat=None, **_):
    rng = np.random.default_rng(seed + (split == "val"))
    ex = _examples(48, image_size, rng)
    if triplets:
        n = len(ex["label"])
        idx = []
        for i in range(n):
            c = ex["label"][i]
            same = [j for j in range(n) if ex["label"][j] == c and j != i]
            other = [j for j in range(n) if ex["label"][j] != c]
            idx += [i, same[0], same[-1], other[i % len(other)], other[(3 * i + 1) % len(other)]]
        ex = {k: v[idx] for k, v in ex.items()}
        ds = tf.data.Dataset.from_tensor_slices({k: v.reshape((n, SET_SIZE) + v.shape[1:])
                                                 for k, v in ex.items()})
    else:
        ds = tf.data.Dataset.from_tensor_slices(ex)
    if training:
        ds = ds.shuffle(64, seed=seed).repeat()
    ds = ds.batch(batch_size, drop_remainder=training)
    if triplets:
        ds = ds.map(lambda b: {k: tf.reshape(v, tf.concat([[-1], tf.shape(v)[2:]], 0))
                               for k, v in b.items()})
    return ds.prefetch(2)
