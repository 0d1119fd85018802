"""`make_dataset`: the tf.data input pipeline of GM-CML training (docs/method.md §1, §4, §V-C).

shards -> interleave -> [close filter] -> shuffle -> repeat -> batch -> decode + parse
(resize, background removal, flip; one parallel map call per batch) -> prefetch.
Triplet mode replaces the front with `samplers`: seeded references -> set sampling ->
batch -> gather the in-memory PNG strings -> decode + parse. After construction it is
all tf.data ops; every random draw is stateless and keyed by (seed, element number),
and the pipeline runs deterministic (training too: reproducibility costs little here,
as PNG decoding dominates), so a seed gives the same batches on every run.
"""
from __future__ import annotations

import contextlib

import tensorflow as tf

from gmcml_tf.data.decoder import META_KEYS, PNG_KEYS, decode_batch, is_close, parse_batch
from gmcml_tf.data.parser import preprocess
from gmcml_tf.data.samplers import RecordIndex, balanced_draw, sample_set
from gmcml_tf.data.shards import DataError, image_problems, list_shards, open_split, read_manifest

AUTOTUNE = tf.data.AUTOTUNE


def make_dataset(data_dir: str, split: str, *, image_size: int, batch_size: int,
                 triplets: bool = False, background: bool = True, close_only: bool = False,
                 training: bool = True, seed: int = 0, shuffle_buffer: int = 2048,
                 cache: bool = False, repeat: bool | None = None,
                 with_meta: bool = False, skip_corrupt: bool = False, augment=None,
                 balanced: bool = False) -> tf.data.Dataset:
    """Batches of {"image", "mask", "alpha", "label"} (+ pose metadata with `with_meta`).

    image (N, S, S, 3) float32 in [0, 1] (O), mask (N, S, S, 3) float32 in [0, 1] (M),
    alpha (N, S, S, 1) float32, label (N,) int32; S = image_size.
    - triplets=False: N = batch_size; shuffled (seeded) when training, file order otherwise.
    - triplets=True: N = batch_size * SET_SIZE, set-major rows [ref, positive, same-class
      negative, other-class negative x 2] (docs/method.md §4; see `samplers.sample_set`). Holds
      the split's PNG strings in memory (~ the shard bytes); `cache` is then moot.
    - background=False: O over black (O * alpha), the first triplet stage (§V-C).
    - close_only: only camera/mode == close records (the softmax fine-tune stage, §V-C).
    - training: random horizontal flip; drop_remainder; repeat forever unless `repeat`.
    - cache: keep the decoded uint8 records (H*W*7 bytes each at the stored size: 630 MB
      for the quickstart train split) in memory, so later epochs skip PNG decoding (~2x
      faster); the shuffle buffer then holds decoded records too.
    - with_meta (debugging, tests): adds model_id, category, mode (bytes), view_index,
      light_index (int32), azimuth, elevation (float32) per row.
    - skip_corrupt: leave out shards that fail the checks of `shards.open_split` (the
      default stops with a DataError naming the shard).
    - augment (training only): a `gmcml_tf.training.train_config.AugmentConfig`; None or disabled
      keeps the bare random flip.
    - balanced (training only): every category equally likely per draw, for plain
      batches and for the references of multi-triplet sets (`samplers.balanced_draw`);
      plain batches then gather from the in-memory record index like triplet batches.
    """
    if int(image_size) < 16:
        raise DataError(f"image_size must be >= 16, not {image_size}")
    if int(batch_size) < 1:
        raise DataError(f"batch_size must be >= 1, not {batch_size}")
    if int(shuffle_buffer) < 1:
        raise DataError(f"shuffle_buffer must be >= 1, not {shuffle_buffer}")
    shards = open_split(data_dir, split, skip_corrupt=skip_corrupt)
    files, records = shards.files, shards.records
    stored = read_manifest(data_dir).get("size")
    repeat = training if repeat is None else bool(repeat)
    seed = int(seed)
    balanced = bool(balanced) and training
    if triplets or balanced:
        ds, decode, records = _indexed_batches(files, stored, close_only, training, repeat, seed,
                                               batch_size, with_meta, triplets, balanced)
    else:
        ds, decode = _plain_batches(files, stored, close_only, training, repeat, seed, batch_size,
                                    shuffle_buffer, cache, with_meta)
    if not repeat and not (close_only and not triplets) and not balanced:
        # A known length: Keras then sizes evaluate() and its progress bar without a warning.
        n = records // batch_size if training else -(-records // batch_size)
        ds = ds.apply(tf.data.experimental.assert_cardinality(n))

    def parse(i, batch):
        # Decode and parse in one map call. The flip's seed stream (negative counters)
        # never meets the sampler's (i >= 0).
        return preprocess(decode(batch), tf.stack([tf.constant(seed, tf.int64), -1 - i]),
                          image_size=image_size, stored_size=stored, background=background,
                          training=training, augment=augment)

    ds = ds.enumerate().map(parse, num_parallel_calls=AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.deterministic = True  # reproducible for a seed, in training too
    return ds.with_options(options).prefetch(AUTOTUNE)


def _plain_batches(files, stored, close_only, training, repeat, seed, batch_size, shuffle_buffer,
                   cache, with_meta):
    """Batches of serialized records (or of decoded ones with `cache`) and their decoder."""
    if close_only:
        _require_close(files)

    def decode(serialized):
        return decode_batch(parse_batch(serialized, with_meta=with_meta), stored, with_meta)

    names = tf.data.Dataset.from_tensor_slices(files)
    if training and not cache:  # with a cache the first pass fixes the order; the buffer shuffles
        names = names.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = names.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 8),
                          num_parallel_calls=AUTOTUNE, deterministic=True)
    if close_only:
        ds = ds.filter(is_close)
    if cache:  # decoded uint8 records, so later epochs skip the PNG decode (the bottleneck)
        ds = ds.batch(256).map(decode, num_parallel_calls=AUTOTUNE, deterministic=True)
        ds = ds.unbatch().cache()
    if training:  # without a cache: shuffles serialized records, ~10x smaller than decoded
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=training)
    return ds, (lambda batch: batch) if cache else decode


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


def _indexed_batches(files, stored, close_only, training, repeat, seed, batch_size, with_meta,
                     triplets, balanced):
    """Batches of record numbers from the in-memory `RecordIndex` ((batch_size, SET_SIZE)
    sets, or (batch_size,) records), their decoder (gather, then decode) and the number
    of draws in one pass."""
    index = RecordIndex.load(files, close_only)
    if balanced:  # an endless stream of class-balanced draws; their seeds (seed + 2^40, i)
        draw_seed = tf.constant(seed + 2 ** 40, tf.int64)  # never meet the sets' (seed, i)
        refs = tf.data.Dataset.range(2 ** 62).map(
            lambda i: tf.cast(balanced_draw(index, tf.stack([draw_seed, i])), tf.int64))
        if not repeat:
            refs = refs.take(index.size)
    else:
        refs = tf.data.Dataset.range(index.size)
        if training:
            refs = refs.shuffle(index.size, seed=seed, reshuffle_each_iteration=True)
        if repeat:
            refs = refs.repeat()

    def sample(i, ref):
        return sample_set(index, tf.cast(ref, tf.int32), tf.stack([tf.constant(seed, tf.int64), i]))

    keys = ["label", *PNG_KEYS] + (list(META_KEYS) if with_meta else [])

    def decode(rows):
        rows = tf.reshape(rows, [-1])  # set-major: rows 5s .. 5s+4 are set s
        return decode_batch({k: tf.gather(index.records[k], rows) for k in keys}, stored, with_meta)

    if triplets:
        ds = refs.enumerate().map(sample, num_parallel_calls=AUTOTUNE, deterministic=True)
    else:
        ds = refs.map(lambda r: tf.cast(r, tf.int32))
    return ds.batch(batch_size, drop_remainder=training), decode, index.size


@contextlib.contextmanager
def corrupt_records_named(data_dir: str, splits=("train", "val")):
    """Turn TensorFlow's decode error for a bad image inside a record (which names no file)
    into a DataError naming the shard and record; the search runs only after a failure."""
    try:
        yield
    except (tf.errors.InvalidArgumentError, tf.errors.DataLossError):
        for split in splits:
            try:
                files = list_shards(data_dir, split)
            except DataError:
                continue
            for path in files:
                if bad := image_problems(path):
                    raise DataError(f"{path}: {bad[0]}; delete it and re-run the same gmcml-tf "
                                    "render, or pass --skip-corrupt to leave it out") from None
        raise
