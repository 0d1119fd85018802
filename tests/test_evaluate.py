"""Evaluation on real photos: metrics by hand, photo importers, odd images, an end-to-end run."""
from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from gmcml_tf.evaluation.evaluate import classification_metrics, nearest_neighbour, restrict
from gmcml_tf.evaluation.real_photos import PhotoError, open_photos, parse_aliases
from tfrecords_tools.categories import CATEGORIES

NAMES = ["a", "b", "c", "d"]


def test_metrics_against_hand_computation_with_an_empty_class():
    y_true = [0, 0, 0, 0, 1, 1, 2]          # class d has no photos
    y_pred = [0, 0, 0, 1, 1, 0, 3]
    m = classification_metrics(y_true, y_pred, NAMES)
    assert m["accuracy"] == pytest.approx(4 / 7)
    # per class: a 3/4, b 1/2, c 0/1; d absent -> excluded from the mean (VisDA convention)
    assert m["mean_per_class_accuracy"] == pytest.approx((0.75 + 0.5 + 0.0) / 3)
    assert m["per_class"]["d"] == {"n": 0, "accuracy": None}
    assert m["per_class"]["a"] == {"n": 4, "accuracy": 0.75}
    assert m["confusion"]["matrix"] == [[3, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert m["n"] == 7


def test_restrict_to_present_and_nearest_neighbour():
    logits = np.array([[0.0, 5.0, 1.0], [3.0, 0.0, 2.0]])
    assert restrict(logits, [0, 2]).argmax(1).tolist() == [2, 0]
    gallery = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    labels = np.array([0, 1, 2])
    q = np.array([[9.0, 1.0], [1.0, 8.0], [0.5, 0.5]])
    assert nearest_neighbour(q, gallery, labels).tolist() == [1, 2, 0]
    assert nearest_neighbour(q, gallery, labels, allowed=[0, 2]).tolist() == [0, 2, 0]


def _jpeg(path, mode="RGB", size=(30, 20)):
    Image.new(mode, size, 128 if mode in ("L", "I;16") else None).save(path)


def test_folder_source_aliases_and_unmapped_folders(tmp_path):
    for folder in ("airplanes", "Motorbikes", "ferry", "faces"):
        (tmp_path / folder).mkdir()
        _jpeg(tmp_path / folder / "x.jpg")
    s = open_photos(str(tmp_path))
    assert s.counts() == {"aeroplane": 1, "motorbike": 1}
    assert sorted(s.unmapped) == ["faces", "ferry"]
    s = open_photos(str(tmp_path), aliases=parse_aliases(["ferry=boat"]))
    assert s.counts() == {"aeroplane": 1, "boat": 1, "motorbike": 1}
    with pytest.raises(PhotoError, match="FOLDER=CLASS"):
        parse_aliases(["ferry=ferries"])
    with pytest.raises(PhotoError, match="does not exist"):
        open_photos(str(tmp_path / "nope"))


def test_pascal3d_importer_on_a_written_fixture(tmp_path):
    from scipy.io import savemat
    img_dir = tmp_path / "Images" / "car_imagenet"
    ann_dir = tmp_path / "Annotations" / "car_imagenet"
    img_dir.mkdir(parents=True)
    ann_dir.mkdir(parents=True)
    Image.new("RGB", (100, 80)).save(img_dir / "n01.JPEG", format="JPEG")
    objects = np.zeros((3,), dtype=[("class", object), ("bbox", object), ("truncated", object),
                                    ("occluded", object), ("difficult", object)])
    objects[0] = ("car", np.array([11.0, 21.0, 60.0, 70.0]), 0, 1, 0)
    objects[1] = ("car", np.array([1.0, 1.0, 10.0, 10.0]), 0, 0, 1)   # difficult: excluded
    objects[2] = ("person", np.array([1.0, 1.0, 10.0, 10.0]), 0, 0, 0)  # not one of the 12
    savemat(ann_dir / "n01.mat", {"record": {"filename": "n01.JPEG", "objects": objects}})
    (ann_dir / "broken.mat").write_bytes(b"garbage")
    s = open_photos(f"pascal3d:{tmp_path}", margin=0.0)
    assert len(s.photos) == 1
    p = s.photos[0]
    assert p.category == "car" and p.flags == ("occluded",)
    assert p.box == pytest.approx((10.0, 20.0, 60.0, 70.0))   # 1-based inclusive -> 0-based
    assert any("broken.mat" in k for k in s.skipped)
    assert len(open_photos(f"pascal3d:{tmp_path}", exclude_flags=()).photos) == 2
    with pytest.raises(PhotoError, match="not a PASCAL3D"):
        open_photos(f"pascal3d:{tmp_path / 'Images'}")


def test_odd_modes_decode_and_corrupt_files_are_skipped_and_counted(tmp_path):

    from gmcml_tf.evaluation.evaluate import photo_dataset
    (tmp_path / "car").mkdir()
    modes = {"grey.png": "L", "rgba.png": "RGBA", "sixteen.png": "I;16", "cmyk.jpg": "CMYK",
             "pal.png": "P", "rgb.jpg": "RGB"}
    for name, mode in modes.items():
        _jpeg(tmp_path / "car" / name, mode=mode, size=(37, 23))
    (tmp_path / "car" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff garbage")
    s = open_photos(str(tmp_path))
    got = {int(i): x for idx, xs in photo_dataset(s, 16, "pad") for i, x in zip(idx.numpy(), xs.numpy())}
    paths = [p.path for p in s.photos]
    assert len(got) == len(modes)
    assert paths[sorted(set(range(len(paths))) - set(got))[0]].endswith("corrupt.jpg")
    for x in got.values():
        assert x.shape == (16, 16, 3) and 0 <= x.min() and x.max() <= 1
    grey = got[paths.index(str(tmp_path / "car" / "grey.png"))]
    np.testing.assert_allclose(grey[8, 8], 128 / 255, atol=1e-3)   # grey -> equal RGB
    sixteen = got[paths.index(str(tmp_path / "car" / "sixteen.png"))]
    np.testing.assert_allclose(sixteen[8, 8], 128 / 65535, atol=1e-4)  # 16-bit keeps its scale


def test_evaluate_end_to_end_writes_json_and_figures(smoke_run, tmp_path):
    import json

    from gmcml_tf.cli import main
    photos = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for folder in ("car", "airplanes", "faces"):
        (photos / folder).mkdir(parents=True)
        for i in range(3):
            Image.fromarray((rng.random((40 + i, 50, 3)) * 255).astype(np.uint8)).save(
                photos / folder / f"{i}.jpg")
    (photos / "car" / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "eval" / "real.json"
    assert main(["evaluate", "--workdir", str(smoke_run), "--real", str(photos),
                 "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["n"] == 6 and set(r["per_class"]) == set(CATEGORIES)
    assert r["per_class"]["car"]["n"] == 3 and r["per_class"]["aeroplane"]["n"] == 3
    assert r["unmapped_folders"] == ["faces"]
    assert [p for p in r["skipped"]] == [str(photos / "car" / "broken.jpg")]
    assert 0 <= r["accuracy"] <= 1 and 0 <= r["nn_accuracy"] <= 1
    assert np.sum(r["confusion"]["matrix"]) == 6
    for name in ("confusion", "projections", "reconstructions"):
        with Image.open(r["plots"][name]) as im:
            assert im.size[0] > 100
    # M' scored on the val renders, by evaluate and by fit at each epoch's end
    m = r["reconstruction_on_renders"]
    assert m["n"] == r["gallery"]["n"] and 0 <= m["silhouette_iou"] <= 1 and 0 <= m["hue_accuracy"] <= 1
    epochs = json.loads((smoke_run / "history.json").read_text())["epochs"]
    assert all(0 <= e["val/mprime_silhouette_iou"] <= 1 for e in epochs)
    # fit left descriptors for TensorBoard's projector beside its logs
    proj = smoke_run / "tensorboard" / "projector"
    assert (proj / "projector_config.pbtxt").is_file()
    assert len((proj / "projector_metadata.tsv").read_text().splitlines()) > 0
    # A user mistake is one line and exit 2.
    assert main(["evaluate", "--workdir", str(tmp_path / "nope"), "--real", str(photos)]) == 2


def test_export_cli_from_a_run_and_predict(smoke_run, tmp_path, capsys):
    import json

    from gmcml_tf.cli import main
    photos = tmp_path / "photos" / "car"
    photos.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((20, 24, 3), 40 * i, np.uint8)).save(photos / f"{i}.png")
    capsys.readouterr()
    assert main(["evaluate", "--workdir", str(smoke_run), "--real", str(photos.parent)]) == 0
    base = tmp_path / "saved" / "smoke"
    assert main(["export", "--workdir", str(smoke_run), "--out", str(base)]) == 0
    assert (base / "1" / "saved_model.pb").is_file()
    # the model card: what it was trained on and the evaluation just run, with its numbers
    assert f"model card: {base / '1' / 'assets.extra' / 'model_card.md'}" in capsys.readouterr().out
    card = json.loads((base / "1" / "assets.extra" / "model_card.json").read_text())
    assert card["trained_on"]["mesh_source"] == "procedural"
    assert card["trained_on"]["splits"]["train"]["models"] == 12
    real = json.loads((smoke_run / "evaluation" / "real.json").read_text())
    assert [e["n"] for e in card["evaluations"]] == [3]
    assert card["evaluations"][0]["accuracy"] == real["accuracy"]
    md = (base / "1" / "assets.extra" / "model_card.md").read_text()
    for heading in ("## Trained on", "## Evaluations", "## Intended use", "## Known limits"):
        assert heading in md
    assert f"{100 * real['mean_per_class_accuracy']:.1f} %" in md
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(img)
    capsys.readouterr()
    assert main(["predict", str(img), "--model", str(base), "--top-k", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out[0]["top_k"]) == 2 and out[0]["top_k"][0]["class"] in CATEGORIES
    assert main(["predict", str(tmp_path / "missing.png"), "--model", str(base)]) == 2


def test_evaluate_names_a_corrupt_gallery_shard_or_skips_it(smoke_run, smoke_render, tmp_path, capsys):
    import json
    import shutil

    from gmcml_tf.cli import main
    photos = tmp_path / "photos" / "car"
    photos.mkdir(parents=True)
    Image.fromarray(np.full((20, 20, 3), 90, np.uint8)).save(photos / "a.png")
    gallery = tmp_path / "gallery"
    shutil.copytree(smoke_render[0].out, gallery)
    shard = sorted(gallery.glob("val-*.tfrecord"))[0]
    shard.write_bytes(shard.read_bytes()[:-5])
    out = tmp_path / "real.json"
    args = ["evaluate", "--workdir", str(smoke_run), "--real", str(photos.parent), "--gallery",
            str(gallery), "--json", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{shard}: corrupt shard (truncated record" in err and "--skip-corrupt" in err
    assert not out.exists()
    assert main([*args, "--skip-corrupt"]) == 0
    assert f"left out corrupt gallery shard {shard}" in capsys.readouterr().out
    r = json.loads(out.read_text())
    assert list(r["gallery"]["skipped_shards"]) == [str(shard)] and r["gallery"]["n"] > 0


def test_flip_averaging_in_evaluate_and_in_the_exported_graph(smoke_run, tmp_path):
    """The exported flip graph gives the same scores as evaluation's flip, and they are
    symmetric: a photo and its mirror get identical probabilities."""
    import tensorflow as tf

    from gmcml_tf.serving.export import export_run
    from gmcml_tf.inference import predict
    from gmcml_tf.training.workdir import load_run
    run = load_run(smoke_run)
    s = export_run(run, tmp_path / "m", flip=True)
    loaded = tf.saved_model.load(s["path"])
    x = tf.random.stateless_uniform([3, 32, 40, 3], seed=[2, 3])
    p = loaded.signatures["predict_images"](images=x)["probabilities"].numpy()
    p_mirror = loaded.signatures["predict_images"](images=tf.reverse(x, [2]))["probabilities"].numpy()
    np.testing.assert_allclose(p, p_mirror, atol=1e-5)
    size = run.config.model.image_size
    want = tf.nn.softmax(predict(run.model, tf.image.resize(x, (size, size), antialias=True), True)["logits"])
    np.testing.assert_allclose(p, want.numpy(), atol=1e-4)
    assert s["flip"] is True


def test_several_fittings_average_their_scores_in_evaluate_and_in_the_exported_graph(smoke_run, tmp_path):
    """`stretch+crop`: the scores are the mean log-softmax of the stretched and the centre-cropped
    photo (and their mirrors with flip), the same from evaluation's predict, from the exported
    tensor signature and from the bytes signature (PNG of a wide photo)."""
    import io

    import tensorflow as tf
    from PIL import Image

    from gmcml_tf.inference import predict
    from gmcml_tf.preprocess import fit_to_square
    from gmcml_tf.serving.export import export_run
    from gmcml_tf.training.workdir import load_run
    run = load_run(smoke_run)
    size = run.config.model.image_size
    wide = tf.random.stateless_uniform([2, 30, 60, 3], seed=[4, 5])
    views = fit_to_square(wide, size, "stretch+crop")
    assert views.shape == (2, 2, size, size, 3)
    np.testing.assert_allclose(views[:, 0], fit_to_square(wide, size, "stretch"))
    np.testing.assert_allclose(views[:, 1], fit_to_square(wide, size, "crop"))
    got = predict(run.model, views, flip=True)["logits"].numpy()
    passes = [run.model(v, training=False)["logits"] for v in
              (views[:, 0], views[:, 1], tf.reverse(views[:, 0], [2]), tf.reverse(views[:, 1], [2]))]
    want = np.mean([tf.nn.log_softmax(p).numpy() for p in passes], axis=0)
    np.testing.assert_allclose(got, want, atol=1e-5)

    s = export_run(run, tmp_path / "m", fit="stretch+crop", flip=True)
    assert s["fit"] == "stretch+crop"
    loaded = tf.saved_model.load(s["path"])
    p = loaded.signatures["predict_images"](images=wide)["probabilities"].numpy()
    np.testing.assert_allclose(p, tf.nn.softmax(want).numpy(), atol=1e-4)
    png = io.BytesIO()
    Image.fromarray((wide[0].numpy() * 255).round().astype(np.uint8)).save(png, format="PNG")
    q = loaded.signatures["serving_default"](images=tf.constant([png.getvalue()]))["probabilities"].numpy()
    np.testing.assert_allclose(q[0], p[0], atol=2e-2)  # 8-bit rounding of the PNG only
    assert q.shape == (1, len(run.class_names))


def test_pad_edge_keeps_the_shape_and_fills_the_bars_with_the_border_rows():
    import tensorflow as tf

    from gmcml_tf.preprocess import fit_to_square
    wide = tf.random.stateless_uniform([30, 60, 3], seed=[1, 2], minval=0.2, maxval=1.0)  # never black
    out = fit_to_square(wide, 16, "pad_edge").numpy()
    band = tf.image.resize(wide, (8, 16), antialias=True).numpy()   # the long side scaled to 16
    np.testing.assert_allclose(out[4:12], band, atol=1e-6)          # the photo, centred, shape kept
    for r in range(4):
        np.testing.assert_allclose(out[r], band[0], atol=1e-6)      # bars repeat the border rows
        np.testing.assert_allclose(out[15 - r], band[-1], atol=1e-6)
    assert out.min() >= 0.2 - 1e-3                                  # no black band, unlike `pad`
    assert fit_to_square(wide, 16, "pad").numpy()[0].max() == 0
    tall = tf.transpose(wide, [1, 0, 2])
    np.testing.assert_allclose(fit_to_square(tall, 16, "pad_edge").numpy(), out.transpose(1, 0, 2), atol=1e-5)
    batched = fit_to_square(tf.stack([wide, wide * 0.5]), 16, "pad_edge").numpy()
    np.testing.assert_allclose(batched[0], out, atol=1e-6)
    square = tf.random.stateless_uniform([40, 40, 3], seed=[3, 4])
    np.testing.assert_allclose(fit_to_square(square, 16, "pad_edge"), fit_to_square(square, 16, "stretch"),
                               atol=1e-6)


def test_fit_modes_are_checked():
    from gmcml_tf.config import ConfigError, load_config
    from gmcml_tf.preprocess import fit_modes
    assert fit_modes("stretch+crop") == ("stretch", "crop")
    for bad in ("strech", "crop+crop", "stretch+", ""):
        with pytest.raises(ValueError, match="joined by"):
            fit_modes(bad)
    with pytest.raises(ConfigError, match="eval.fit"):
        load_config(None, ["eval.fit=stretch+zoom"])


def test_mprime_silhouette_iou_and_hue_guess_by_hand():
    from gmcml_tf.evaluation.reconstruction import ReconstructionScore, hue_hits, silhouette_iou
    colors = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # class 0 red, class 1 blue
    alpha = np.zeros((2, 4, 4, 1))
    alpha[:, :2, :2] = 1.0                      # a 2x2 object in the corner (4 pixels)
    m = np.zeros((2, 4, 4, 3))
    m[0, :2, :3, 0] = 0.5                       # render 0: 6 red pixels at half shading, 4 on the object
    m[0, 3, 3] = [0.1, 0.1, 0.1]                # below the 0.125 threshold: background
    m[1, :2, :2] = [0.1, 0.0, 0.3]              # render 1: exactly the silhouette, bluish
    assert silhouette_iou(m, alpha) == pytest.approx([4 / 6, 1.0])
    assert hue_hits(m, alpha, [0, 0], colors).tolist() == [True, False]   # render 1 looks blue
    score = ReconstructionScore(colors)
    score.update(m, alpha[..., 0], np.array([0, 1]))
    r = score.result()
    assert r["silhouette_iou"] == pytest.approx((4 / 6 + 1) / 2) and r["hue_accuracy"] == 1.0 and r["n"] == 2
    assert silhouette_iou(np.zeros((1, 4, 4, 3)), np.zeros((1, 4, 4))) == pytest.approx([1.0])  # both empty
