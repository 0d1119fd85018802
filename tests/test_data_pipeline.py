"""gmcml_tf.data: the tf.data input pipeline on a real smoke render (docs/method.md §1, §4)."""
import dataclasses
import shutil

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from gmcml_tf.bench.input import bench_input  # noqa: E402
from gmcml_tf.data import SET_SIZE, DataError, list_shards, make_dataset  # noqa: E402
from gmcml_tf.data.samplers import RecordIndex, sample_set  # noqa: E402
from tfrecords_tools.categories import CATEGORIES  # noqa: E402

from conftest import smoke_config  # noqa: E402


def take(ds, n=1):
    return [{k: v.numpy() for k, v in b.items()} for b in ds.take(n)]


@pytest.fixture(scope="module")
def close_render(tmp_path_factory):
    """A tiny render where about half the views are close shots, each pose under 2 lights."""
    from tfrecords_tools.runners import render
    base = smoke_config()
    cfg = dataclasses.replace(base, out=str(tmp_path_factory.mktemp("close")), workers=1,
                              procedural_per_category=1, val_fraction=0.0, lights_per_view=2,
                              camera=dataclasses.replace(base.camera, close_fraction=0.5))
    return cfg, render(cfg, show_progress=False)


@pytest.mark.parametrize("size", [64, 32, 48])  # stored size, integer downscale, bilinear
def test_shapes_dtypes_ranges(smoke_render, size):
    cfg, _ = smoke_render
    b, = take(make_dataset(cfg.out, "train", image_size=size, batch_size=6))
    assert b["image"].shape == (6, size, size, 3) and b["mask"].shape == (6, size, size, 3)
    assert b["alpha"].shape == (6, size, size, 1) and b["label"].shape == (6,)
    assert {b[k].dtype for k in ("image", "mask", "alpha")} == {np.dtype(np.float32)}
    assert b["label"].dtype == np.int32
    for k in ("image", "mask", "alpha"):
        assert 0.0 <= b[k].min() and b[k].max() <= 1.0 and b[k].max() > 0.5


def test_eval_pass_covers_split_with_labels_of_the_manifest(smoke_render):
    cfg, manifest = smoke_render
    ds = make_dataset(cfg.out, "val", image_size=32, batch_size=5, training=False, with_meta=True)
    batches = take(ds, -1)
    assert [len(b["label"]) for b in batches][-1] == 48 % 5  # no drop_remainder in eval
    assert ds.cardinality() == len(batches) == 10  # known length, for Keras' evaluate()
    labels = np.concatenate([b["label"] for b in batches])
    cats = np.concatenate([b["category"] for b in batches])
    assert [CATEGORIES[i] for i in labels] == [c.decode() for c in cats]
    counts = {c: int(n) for c, n in zip(*np.unique([c.decode() for c in cats], return_counts=True))}
    assert counts == manifest["splits"]["val"]["per_category"]
    again = np.concatenate([b["label"] for b in take(ds, -1)])
    np.testing.assert_array_equal(labels, again)  # eval order is fixed


@pytest.mark.parametrize("size", [64, 48])
def test_background_false_is_object_over_black(smoke_render, size):
    cfg, _ = smoke_render
    kw = dict(image_size=size, batch_size=16, training=False)
    with_bg, = take(make_dataset(cfg.out, "train", **kw))
    bare, = take(make_dataset(cfg.out, "train", background=False, **kw))
    a = np.broadcast_to(bare["alpha"], bare["image"].shape)
    np.testing.assert_array_equal(bare["alpha"], with_bg["alpha"])
    assert (a == 0).any() and (a == 1).any()
    assert np.all(bare["image"][a == 0] == 0)
    np.testing.assert_array_equal(bare["image"][a == 1], with_bg["image"][a == 1])
    assert with_bg["image"][a == 0].max() > 0.1  # there was a background to remove
    np.testing.assert_array_equal(bare["mask"], with_bg["mask"])


def test_training_flip_keeps_image_mask_alpha_aligned(smoke_render):
    cfg, _ = smoke_render
    ref = take(make_dataset(cfg.out, "train", image_size=64, batch_size=48, training=False,
                            with_meta=True))[0]
    key = lambda b, i: (b["model_id"][i], int(b["view_index"][i]))  # noqa: E731
    rows = {key(ref, i): i for i in range(48)}
    flips = 0
    for b in take(make_dataset(cfg.out, "train", image_size=64, batch_size=16, with_meta=True), 3):
        for i in range(16):
            j = rows[key(b, i)]
            flipped = not np.array_equal(b["image"][i], ref["image"][j])
            flips += flipped
            for k in ("image", "mask", "alpha"):
                want = ref[k][j][:, ::-1] if flipped else ref[k][j]
                np.testing.assert_array_equal(b[k][i], want)
    assert 0 < flips < 48


def test_triplet_sets_follow_method_section_4(smoke_render):
    cfg, _ = smoke_render
    ds = make_dataset(cfg.out, "train", image_size=32, batch_size=8, triplets=True, with_meta=True)
    for b in take(ds, 3):
        assert b["image"].shape == (8 * SET_SIZE, 32, 32, 3)
        lab, mid, view = (b[k].reshape(8, SET_SIZE) for k in ("label", "model_id", "view_index"))
        assert np.all(mid[:, 1] == mid[:, 0]) and np.all(view[:, 1] != view[:, 0])  # positive
        assert np.all(lab[:, 2] == lab[:, 0])                                        # same class
        assert np.all((mid[:, 2] != mid[:, 0]) | (view[:, 2] != view[:, 0]))         # other pose
        assert np.all(lab[:, 3] != lab[:, 0]) and np.all(lab[:, 4] != lab[:, 0])     # other classes
        assert np.all(lab[:, 3] != lab[:, 4])                                        # 12 categories


def _synthetic_index(lights=1, cats=3, views=((0, 0), (90, 0), (10, 0), (180, 0))):
    """Records of 2 models per category, one per (view, light), no pixels needed."""
    rows = [(c, m, v, k) for c in range(cats) for m in range(2) for v in range(len(views))
            for k in range(lights)]
    col = lambda i: np.array([r[i] for r in rows])  # noqa: E731
    t = {"label": col(0).astype(np.int32), "category": np.array([CATEGORIES[c] for c in col(0)]),
         "model_id": np.array([f"m{m}" for m in col(1)]), "view_index": col(2).astype(np.int32),
         "light_index": col(3).astype(np.int32),
         "azimuth": np.array([views[v][0] for v in col(2)], np.float32),
         "elevation": np.array([views[v][1] for v in col(2)], np.float32)}
    for k in ("image", "mask", "alpha", "mode"):
        t[k] = np.array([b"x"] * len(rows))
    return RecordIndex.from_tables({k: tf.constant(v) for k, v in t.items()})


def test_sampler_positive_prefers_other_light_then_nearest_pose():
    for lights, want_view in ((2, 0), (1, 2)):  # same view under the other light; else 10 deg away
        index = _synthetic_index(lights=lights)
        r = index.records
        ref = int(np.flatnonzero((r["view_index"].numpy() == 0) & (r["light_index"].numpy() == 0))[0])
        for s in range(5):
            pos = int(sample_set(index, tf.constant(ref), tf.constant([s, 0], tf.int64))[1])
            assert index.model.numpy()[pos] == index.model.numpy()[ref] and pos != ref
            assert r["view_index"].numpy()[pos] == want_view


def test_sampler_same_class_negative_is_far_or_farthest():
    index = _synthetic_index()
    r, ref = index.records, 0  # category 0, model 0, view 0 (azimuth 0)
    picks = {int(sample_set(index, tf.constant(ref), tf.constant([s, 1], tf.int64))[2]) for s in range(20)}
    assert all(r["label"].numpy()[p] == 0 and r["azimuth"].numpy()[p] >= 60 for p in picks)
    assert len(picks) > 1  # random among the valid ones
    near = _synthetic_index(views=((0, 0), (20, 0)))  # nothing >= 60 deg: the farthest
    for s in range(5):
        p = int(sample_set(near, tf.constant(0), tf.constant([s, 2], tf.int64))[2])
        assert near.records["azimuth"].numpy()[p] == 20


def test_sampler_two_categories_repeats_the_other_class():
    index = _synthetic_index(cats=2)
    idx = sample_set(index, tf.constant(0), tf.constant([0, 3], tf.int64)).numpy()
    assert list(index.records["label"].numpy()[idx[3:]]) == [1, 1]


def test_same_seed_same_batches_other_seed_differs(smoke_render):
    cfg, _ = smoke_render
    for triplets in (False, True):
        kw = dict(image_size=32, batch_size=4, triplets=triplets)
        a, b, c = (take(make_dataset(cfg.out, "train", seed=s, **kw), 2) for s in (7, 7, 8))
        for x, y in zip(a, b):
            for k in x:
                np.testing.assert_array_equal(x[k], y[k])
        assert any(not np.array_equal(x["image"], z["image"]) for x, z in zip(a, c))


def test_triplets_in_eval_are_fixed(smoke_render):
    cfg, _ = smoke_render
    ds = make_dataset(cfg.out, "val", image_size=32, batch_size=4, triplets=True, training=False)
    first, again = take(ds, -1), take(ds, -1)
    assert sum(len(b["label"]) for b in first) == 48 * SET_SIZE
    for x, y in zip(first, again):
        np.testing.assert_array_equal(x["image"], y["image"])


def test_close_only(smoke_render, close_render):
    cfg, manifest = close_render
    for triplets in (False, True):
        ds = make_dataset(cfg.out, "train", image_size=32, batch_size=4, close_only=True,
                          triplets=triplets, training=False, with_meta=True)
        modes = np.concatenate([b["mode"] for b in take(ds, -1)])
        assert len(modes) and set(modes) == {b"close"}
        assert len(modes) < manifest["splits"]["train"]["records"] * (SET_SIZE if triplets else 1)
    with pytest.raises(DataError, match="close"):
        make_dataset(smoke_render[0].out, "train", image_size=32, batch_size=4, close_only=True)


def test_positive_is_the_same_pose_under_another_light(close_render):
    cfg, _ = close_render
    ds = make_dataset(cfg.out, "train", image_size=32, batch_size=16, triplets=True, with_meta=True)
    b, = take(ds)
    mid, view, light = (b[k].reshape(16, SET_SIZE) for k in ("model_id", "view_index", "light_index"))
    assert np.all(mid[:, 1] == mid[:, 0]) and np.all(view[:, 1] == view[:, 0])
    assert np.all(light[:, 1] != light[:, 0])


def test_cache_gives_the_same_batches(smoke_render):
    cfg, _ = smoke_render
    kw = dict(image_size=32, batch_size=8, training=False)
    plain, cached = (take(make_dataset(cfg.out, "val", cache=c, **kw), -1) for c in (False, True))
    for x, y in zip(plain, cached):
        np.testing.assert_array_equal(x["image"], y["image"])
    train = make_dataset(cfg.out, "train", **{**kw, "training": True})
    assert train.cardinality() == tf.data.INFINITE_CARDINALITY  # repeat=None: forever when training


def test_user_errors_name_the_path(smoke_render, tmp_path):
    cfg, _ = smoke_render
    kw = dict(image_size=32, batch_size=4)
    with pytest.raises(DataError, match=str(tmp_path / "nope")):
        make_dataset(str(tmp_path / "nope"), "train", **kw)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=f"{empty}.*manifest"):
        list_shards(str(empty), "train")
    shutil.copy(f"{cfg.out}/manifest.json", empty)
    with pytest.raises(DataError, match=f"{empty}: no 'train' shards"):
        list_shards(str(empty), "train")
    assert len(list_shards(cfg.out, "train")) == 3
    for bad in (dict(image_size=8, batch_size=4), dict(image_size=32, batch_size=0)):
        with pytest.raises(DataError):
            make_dataset(cfg.out, "train", **bad)
    with pytest.raises(DataError, match="split"):
        make_dataset(cfg.out, "test", **kw)


def test_corrupt_shard_is_named(smoke_render, tmp_path):
    cfg, _ = smoke_render
    bad = tmp_path / "bad"
    shutil.copytree(cfg.out, bad)
    shard = sorted(bad.glob("train-*.tfrecord"))[1]
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) - 100])  # a truncated copy
    for triplets in (False, True):
        with pytest.raises(DataError, match=str(shard)):
            make_dataset(str(bad), "train", image_size=32, batch_size=4, triplets=triplets)
    shard.write_bytes(data[:5000] + bytes([data[5000] ^ 0xFF]) + data[5001:])  # a flipped payload byte
    for triplets in (False, True):
        with pytest.raises(DataError, match=str(shard)):
            make_dataset(str(bad), "train", image_size=32, batch_size=4, triplets=triplets)


def test_bench_input_reports_throughput(smoke_render):
    cfg, _ = smoke_render
    for triplets in (False, True):
        r = bench_input(cfg.out, image_size=32, batch_size=4, triplets=triplets, steps=3)
        assert r["input_images_per_s"] > 0 and r["batches"] == 3
        assert (r["image_size"], r["batch_size"]) == (32, 4)
