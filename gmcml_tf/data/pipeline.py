"""`make_dataset`: the tf.data input pipeline of GM-CML training (METHOD §1, §4, §V-C).

shards -> interleave -> [close filter] -> shuffle -> repeat -> decode (parallel)
-> batch -> parse (resize, background removal, flip; per batch) -> prefetch.
Triplet mode replaces the front with `samplers`: seeded references -> set sampling ->
gather the in-memory PNG strings -> decode. Everything after construction is tf.data
ops; every random draw is stateless and keyed by (seed, element number), and the
pipeline runs deterministic, so a seed gives the same batches on every run.
"""
from __future__ import annotations

import tensorflow as tf

from gmcml_tf.data.decoder import decode_record, is_close, parse_fields
from gmcml_tf.data.parser import preprocess
from gmcml_tf.data.samplers import SET_SIZE, RecordIndex, sample_set
from gmcml_tf.data.shards import DataError, check_shards, list_shards, read_manifest

AUTOTUNE = tf.data.AUTOTUNE


def make_dataset(data_dir: str, split: str, *, image_size: int, batch_size: int,
                 triplets: bool = False, background: bool = True, close_only: bool = False,
                 training: bool = True, seed: int = 0, shuffle_buffer: int = 2048,
                 cache: bool = False, repeat: bool | None = None,
                 with_meta: bool = False) -> tf.data.Dataset:
    """Batches of {"image", "mask", "alpha", "label"} (+ pose metadata with `with_meta`).

    image (N, S, S, 3) float32 in [0, 1] (O), mask (N, S, S, 3) float32 in [0, 1] (M),
    alpha (N, S, S, 1) float32, label (N,) int32; S = image_size.
    - triplets=False: N = batch_size; shuffled (seeded) when training, file order otherwise.
    - triplets=True: N = batch_size * SET_SIZE, set-major rows [ref, positive, same-class
      negative, other-class negative x 2] (METHOD §4; see `samplers.sample_set`). Holds
      the split's PNG strings in memory (~ the shard bytes); `cache` is then moot.
    - background=False: O over black (O * alpha), the first triplet stage (§V-C).
    - close_only: only camera/mode == close records (the softmax fine-tune stage, §V-C).
    - training: random horizontal flip; drop_remainder; repeat forever unless `repeat`.
    - cache: keep decoded uint8 records (H*W*7 bytes each at the stored size) in memory.
    - with_meta (debugging, tests): adds model_id, category, mode (bytes), view_index,
      light_index (int32), azimuth, elevation (float32) per row.
    """
    if int(image_size) < 16:
        raise DataError(f"image_size must be >= 16, not {image_size}")
    if int(batch_size) < 1:
        raise DataError(f"batch_size must be >= 1, not {batch_size}")
    files = list_shards(data_dir, split)
    stored = read_manifest(data_dir).get("size")
    check_shards(files)
    repeat = training if repeat is None else bool(repeat)
    seed = int(seed)
    if triplets:
        rows, n = _triplet_rows(files, stored, close_only, training, repeat, seed, with_meta), SET_SIZE
    else:
        rows, n = _plain_rows(files, stored, close_only, training, repeat, seed, shuffle_buffer,
                              cache, with_meta), 1
    ds = rows.batch(batch_size * n, drop_remainder=training)

    def parse(i, batch):
        # The flip's seed stream (negative counters) never meets the sampler's (i >= 0).
        return preprocess(batch, tf.stack([tf.constant(seed, tf.int64), -1 - i]), image_size=image_size,
                          stored_size=stored, background=background, training=training)

    ds = ds.enumerate().map(parse, num_parallel_calls=AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.deterministic = True  # reproducible for a seed, in training too
    return ds.with_options(options).prefetch(AUTOTUNE)


def _plain_rows(files, stored, close_only, training, repeat, seed, shuffle_buffer, cache, with_meta):
    """Unbatched decoded records, in file order or seeded-shuffled."""
    if close_only:
        _require_close(files)
    decode = lambda s: decode_record(parse_fields(s), stored, with_meta)  # noqa: E731
    names = tf.data.Dataset.from_tensor_slices(files)
    if training and not cache:  # with a cache the first pass fixes the order; the buffer shuffles
        names = names.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = names.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 8),
                          num_parallel_calls=AUTOTUNE, deterministic=True)
    if close_only:
        ds = ds.filter(is_close)
    if cache:
        ds = ds.map(decode, num_parallel_calls=AUTOTUNE, deterministic=True).cache()
    if training:  # shuffle serialized records (small) before decoding, unless cached
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    if not cache:
        ds = ds.map(decode, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds


def _require_close(files: list[str]) -> None:
    """DataError unless some record is a close shot; stops at the first one found."""
    for path in files:
        try:
            if any(True for _ in tf.data.TFRecordDataset(path).filter(is_close).take(1)):
                return
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
            raise DataError(f"{path}: corrupt shard ({e.message.splitlines()[0]})") from None
    folder = files[0].rsplit("/", 1)[0]
    raise DataError(f"{folder}: no close-shot records (render with camera.close_fraction > 0)")


def _triplet_rows(files, stored, close_only, training, repeat, seed, with_meta):
    """Unbatched decoded records, SET_SIZE consecutive rows per multi-triplet set."""
    index = RecordIndex.load(files, close_only)
    refs = tf.data.Dataset.range(index.size)
    if training:
        refs = refs.shuffle(index.size, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        refs = refs.repeat()

    def sample(i, ref):
        return sample_set(index, tf.cast(ref, tf.int32), tf.stack([tf.constant(seed, tf.int64), i]))

    def gather(j):
        return decode_record({k: v[j] for k, v in index.records.items()}, stored, with_meta)

    sets = refs.enumerate().map(sample, num_parallel_calls=AUTOTUNE, deterministic=True)
    return sets.unbatch().map(gather, num_parallel_calls=AUTOTUNE, deterministic=True)
