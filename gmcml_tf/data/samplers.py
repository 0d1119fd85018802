"""Multi-triplet set sampling from the pose labels in the shards (docs/method.md §4, paper §V-B).

A set is 5 records: [reference, positive, same-class negative, other-class negative,
other-class negative]. `RecordIndex.load` makes one pass over the shards keeping the
small labels and the three PNG strings each record needs (image, mask, alpha; not the
depth map) in memory, sorted so that each category and each model is a contiguous range.
Memory cost: about the shards' bytes less the depth PNGs (~19 kB a record at 128 px:
~100 MB for the quickstart train split, ~2x that briefly while loading); decoding
happens after the gather, per batch. The load pass takes ~2.5 s for those 5,472 records.
`sample_set` then picks the 4 partners of a reference with stateless tf.random ops
(a tf.data map: no Python per step).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from gmcml_tf.data.decoder import CLOSE, META_KEYS, parse_batch
from gmcml_tf.data.shards import DataError

FAR_DEGREES = 60.0  # "clearly different pose" for the same-class negative
_TABLE_KEYS = ("image", "mask", "alpha", "label", *META_KEYS)


@dataclasses.dataclass(frozen=True)
class RecordIndex:
    """Per-record tensors (sorted by label, model, view, light) and range tables."""
    records: dict          # name -> (N,) tensor: the PNG strings and META_KEYS, plus "label"
    model: tf.Tensor       # (N,) int32 model number (contiguous per category)
    direction: tf.Tensor   # (N, 3) float32 unit camera direction from azimuth/elevation
    model_start: tf.Tensor  # (M,) first record of each model
    model_count: tf.Tensor  # (M,)
    cat_start: tf.Tensor   # (K,) first record of each label 0..K-1 (count 0 if absent)
    cat_count: tf.Tensor   # (K,), K = the largest label + 1
    present: tf.Tensor     # (P,) labels that have records

    @property
    def size(self) -> int:
        return int(self.model.shape[0])

    @classmethod
    def load(cls, files: list[str], close_only: bool = False) -> "RecordIndex":
        """One pass over `files` (shard by shard, so a corrupt one is named); a bar per shard
        on a terminal."""
        from tqdm import tqdm
        parts = {k: [] for k in _TABLE_KEYS}
        for path in tqdm(files, desc="record index", unit="shard", leave=False, disable=None):
            ds = tf.data.TFRecordDataset(path).batch(1024).map(parse_batch)
            try:
                for b in ds:
                    for k in _TABLE_KEYS:
                        parts[k].append(b[k])
            except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
                raise DataError(f"{path}: corrupt shard ({e.message.splitlines()[0]})") from None
        if not parts["label"]:
            raise DataError(f"{files[0]}: the shards hold no records")
        t = {k: tf.concat(v, axis=0) for k, v in parts.items()}
        if close_only:
            keep = tf.where(tf.equal(t["mode"], CLOSE))[:, 0]
            if keep.shape[0] == 0:
                raise DataError(f"{files[0].rsplit('/', 1)[0]}: no close-shot records (render with "
                                "camera.close_fraction > 0)")
            t = {k: tf.gather(v, keep) for k, v in t.items()}
        return cls.from_tables(t)

    @classmethod
    def from_tables(cls, t: dict) -> "RecordIndex":
        """Sort the per-record tensors `t` (keys _TABLE_KEYS) and build the range tables."""
        label = t["label"].numpy()
        if len(np.unique(label)) < 2:
            raise DataError("triplet sets need records of at least 2 categories")
        # Model key: model ids are unique within a category only.
        key = np.char.add(np.char.add(t["category"].numpy().astype(bytes), b"/"),
                          t["model_id"].numpy().astype(bytes))
        _, model = np.unique(key, return_inverse=True)
        order = np.lexsort((t["light_index"].numpy(), t["view_index"].numpy(), model, label))
        label, model = label[order], model[order]
        _, model = np.unique(model, return_inverse=True)  # renumber: ascending in sorted order
        starts = np.flatnonzero(np.r_[True, model[1:] != model[:-1]])
        counts = np.diff(np.r_[starts, len(model)])
        cat_count = np.bincount(label)   # any number of classes: labels come from the shards
        cat_start = np.searchsorted(label, np.arange(len(cat_count)))
        records = {k: tf.gather(v, order) for k, v in t.items()}
        az = np.radians(records["azimuth"].numpy().astype(np.float64))
        el = np.radians(records["elevation"].numpy().astype(np.float64))
        direction = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], -1)
        i32 = lambda a: tf.constant(np.asarray(a, np.int32))  # noqa: E731
        return cls(records=records, model=i32(model), direction=tf.constant(direction, tf.float32),
                   model_start=i32(starts), model_count=i32(counts), cat_start=i32(cat_start),
                   cat_count=i32(cat_count), present=i32(np.flatnonzero(cat_count)))


def _angles(index: RecordIndex, ref: tf.Tensor, cand: tf.Tensor) -> tf.Tensor:
    """Degrees between the camera direction of `ref` and those of `cand`."""
    cos = tf.linalg.matvec(tf.gather(index.direction, cand), index.direction[ref])
    return tf.acos(tf.clip_by_value(cos, -1.0, 1.0)) * (180.0 / np.pi)


def sample_set(index: RecordIndex, ref: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """(5,) int32 record numbers of the multi-triplet set of reference `ref` (docs/method.md §4).

    - positive: same model; the same view under another light when there is one (angle
      0, preferred), else the nearest camera direction; never the reference itself
      (unless the model has a single record). Ties are broken at random.
    - same-class negative: a random record of the category whose camera is >= 60 deg
      from the reference's, not the same (model, view); failing any, the farthest.
    - two other-class negatives: random records of two random other categories,
      distinct when >= 3 categories are present; with 2, both come from the one other
      category (two different random records of it).
    """
    s = tf.random.experimental.stateless_split(seed, 5)
    r = index.records
    label, view, light = r["label"][ref], r["view_index"][ref], r["light_index"][ref]
    m = index.model[ref]

    start = index.model_start[m]
    cand = tf.range(start, start + index.model_count[m])
    cost = _angles(index, ref, cand)
    other_light = (tf.gather(r["view_index"], cand) == view) & (tf.gather(r["light_index"], cand) != light)
    cost = tf.where(other_light, -1.0, cost)
    cost += 1e-3 * tf.random.stateless_uniform(tf.shape(cost), seed=s[0])
    cost = tf.where(cand == ref, np.inf, cost)
    positive = cand[tf.argmin(cost, output_type=tf.int32)]

    start = index.cat_start[label]
    cand = tf.range(start, start + index.cat_count[label])
    ang = _angles(index, ref, cand)
    other_view = (tf.gather(index.model, cand) != m) | (tf.gather(r["view_index"], cand) != view)
    u = tf.random.stateless_uniform(tf.shape(ang), seed=s[1])
    # Valid candidates score in [1, 2) (random pick); the fallback ranks by angle in [0, .5].
    score = tf.where(other_view & (ang >= FAR_DEGREES), 1.0 + u,
                     tf.where(other_view, ang / 360.0, -1.0))
    same_class_negative = cand[tf.argmax(score, output_type=tf.int32)]

    cats = tf.random.stateless_uniform(tf.shape(index.present), seed=s[2])
    cats = tf.where(index.present == label, -1.0, cats)
    top = tf.gather(index.present, tf.math.top_k(cats, k=2).indices)
    c1 = top[0]
    c2 = top[1] if int(index.present.shape[0]) >= 3 else c1  # static: known at build time
    u = tf.random.stateless_uniform([2], seed=s[3])
    counts = tf.gather(index.cat_count, [c1, c2])
    picks = tf.gather(index.cat_start, [c1, c2]) + tf.minimum(
        tf.cast(u * tf.cast(counts, tf.float32), tf.int32), counts - 1)
    return tf.stack([ref, positive, same_class_negative, picks[0], picks[1]])


def balanced_draw(index: RecordIndex, seed: tf.Tensor) -> tf.Tensor:
    """One record number: a present category drawn uniformly, then one of its records
    uniformly, so every category is equally likely whatever the library's imbalance."""
    s = tf.random.experimental.stateless_split(seed, 2)
    k = tf.random.stateless_uniform([], seed=s[0], maxval=tf.shape(index.present)[0], dtype=tf.int32)
    label = index.present[k]
    count = index.cat_count[label]
    return index.cat_start[label] + tf.random.stateless_uniform([], seed=s[1], maxval=count, dtype=tf.int32)
