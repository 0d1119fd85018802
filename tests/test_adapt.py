"""`gmcml-tf adapt`: pseudo-labels by hand, the holdout split, the content-hash protocol,
self-training and AdaBN end to end, resume after kill -9, bad input. The gain on real photos
needs fitted models (minutes each): it is measured by the runs of docs/adaptation.md."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from conftest import REPO
from conftest import photo_folder as _photo_folder


# --- pseudo-labels, by hand ---------------------------------------------------------------

def test_clustering_corrects_a_confident_classifier_where_the_descriptors_disagree():
    """Two tight descriptor clusters; the classifier calls one photo of cluster 0 class 1.
    The probability-weighted centroids put it back with its cluster; a class predicted for
    fewer than min_share of the photos gets no centroid and no photo."""
    from gmcml_tf.adaptation.pseudo_labels import cluster_labels
    f = np.array([[1, 0.1], [1, -0.1], [1, 0], [0.1, 1], [-0.1, 1], [0, 1]] * 10, float)
    probs = np.tile([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.2, 0.8, 0.0],
                     [0.1, 0.9, 0.0], [0.1, 0.9, 0.0], [0.1, 0.9, 0.0]], (10, 1))
    probs[0] = [0.0, 0.1, 0.9]          # one stray class-2 prediction: 1 of 60 < 2 %
    labels, labelset = cluster_labels(probs, f, min_share=0.02)
    assert labelset.tolist() == [0, 1]
    assert labels.tolist() == [0, 0, 0, 1, 1, 1] * 10


def test_cluster_temperature_weighs_the_classifier_against_the_centroid_by_hand():
    """Photo 5 sits on cluster 0's axis but the classifier gives class 1 probability 0.9.
    Nearest centroid (temperature 0) takes cluster 0; at T = 0.2 the label maximises
    log p + cos / T, computed here by hand from the centroids."""
    from gmcml_tf.adaptation.pseudo_labels import _normalise, cluster_labels
    f = np.array([[1, 0], [1, 0.2], [1, -0.1], [0, 1], [0.2, 1], [1, 0.05]], float)
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.85, 0.15], [0.1, 0.9], [0.2, 0.8], [0.1, 0.9]])
    assert cluster_labels(probs, f, 0.0, iterations=1)[0].tolist() == [0, 0, 0, 1, 1, 0]
    # one iteration: probability-weighted centroids, then the score of photo 5 under each class
    fn = _normalise(f)
    c = _normalise(probs.T @ fn / probs.sum(0)[:, None])
    score = np.log(probs[5]) + (fn[5] @ c.T) / 0.2
    assert score.argmax() == 1      # the classifier's 0.9 outweighs the centroid's pull
    assert cluster_labels(probs, f, 0.0, iterations=1, temperature=0.2)[0].tolist() == [0, 0, 0, 1, 1, 1]
    assert cluster_labels(probs, f, 0.0, iterations=1, temperature=1e-3)[0].tolist() == [0, 0, 0, 1, 1, 0]


def test_class_balanced_selection_keeps_the_same_share_of_every_class():
    from gmcml_tf.adaptation.pseudo_labels import select_balanced
    labels = np.array([0] * 10 + [1] * 4)
    conf = np.concatenate([np.linspace(0.99, 0.9, 10), [0.2, 0.5, 0.4, 0.3]])
    keep = select_balanced(labels, conf, 0.5)
    assert keep[:10].tolist() == [True] * 5 + [False] * 5      # the 5 surest of 10
    assert keep[10:].tolist() == [False, True, True, False]    # 2 of 4 though all are less sure


def test_agreement_keeps_only_photos_whose_cluster_label_is_the_classifiers():
    from gmcml_tf.adaptation.pseudo_labels import select_balanced
    labels = np.array([0, 0, 0, 0, 1, 1])          # clustered labels
    argmax = np.array([0, 1, 0, 0, 1, 0])          # the classifier's own
    conf = np.array([0.9, 0.8, 0.7, 0.1, 0.9, 0.8])
    assert select_balanced(labels, conf, 0.75).tolist() == [True, True, True, False, True, True]
    assert select_balanced(labels, conf, 0.75, argmax).tolist() == [True, False, True, False, True, False]
    # no photo agrees: the round learns from the unfiltered selection rather than from nothing
    assert select_balanced(labels, conf, 0.75, 1 - labels).tolist() == select_balanced(labels, conf, 0.75).tolist()


def test_pseudo_labels_flag_sets_the_settings_and_the_recorded_command(smoke_run, tmp_path, capsys):
    """--pseudo-labels agree reaches the run's settings, and `report summarize` writes it back
    into the command that repeats the run."""
    from gmcml_tf.cli import main
    photos = _photo_folder(tmp_path / "photos", n=32)
    out = tmp_path / "agree"
    assert _adapt(smoke_run, photos, out, "--pseudo-labels", "agree") == 0
    settings = json.loads((out / "adapt.json").read_text())["settings"]
    assert settings["agree"] is True and settings["cluster"] is True
    assert main(["evaluate", "--workdir", str(out), "--real", str(photos)]) == 0
    summary = tmp_path / "s.json"
    assert main(["report", "summarize", str(out), "--table", "t", "--row", "r", "--out", str(summary)]) == 0
    assert "--pseudo-labels agree" in json.loads(summary.read_text())["adaptation"]["command"]


def test_collapse_is_one_class_taking_over_not_classes_emptying():
    """Emptying classes the photos do not show is what adaptation should do; one class
    growing to dominate is the collapse."""
    from gmcml_tf.adaptation.pseudo_labels import collapse, restrict_probs
    before = np.array([0] * 40 + [1] * 30 + [2] * 30)
    names = ["a", "b", "c"]
    assert collapse(before, np.array([0] * 45 + [1] * 38 + [2] * 17), names) is None
    assert collapse(before, np.array([0] * 50 + [1] * 50), names) is None        # c emptied
    assert collapse(before, np.array([0] * 55 + [1] * 30 + [2] * 15), names) is None   # +15 points
    assert "a grew from 40% to 65%" in collapse(before, np.array([0] * 65 + [1] * 30 + [2] * 5), names)
    p = restrict_probs(np.array([[0.5, 0.3, 0.2]]), [1, 2])
    np.testing.assert_allclose(p, [[0.0, 0.6, 0.4]])


def test_teacher_smoothing_keeps_each_photos_runner_up_classes_in_order():
    """A motorbike photo pseudo-labelled "bicycle": with uniform smoothing its motorbike target is
    no higher than any other class's; with the teacher's spread it stays second."""
    from gmcml_tf.adaptation.pseudo_labels import targets
    teacher = np.array([[0.5, 0.4, 0.05, 0.05], [1.0, 0.0, 0.0, 0.0]])   # bicycle, motorbike, car, chair
    labels = np.array([0, 0])
    uniform = targets(labels, 4, 0.1)
    np.testing.assert_allclose(uniform[0], [0.925, 0.025, 0.025, 0.025])
    t = targets(labels, 4, 0.1, teacher)
    np.testing.assert_allclose(t[0], [0.9, 0.1 * 0.8, 0.1 * 0.1, 0.1 * 0.1], rtol=1e-6)
    # the teacher's only mass on the pseudo-label itself: the rest spreads uniformly
    np.testing.assert_allclose(t[1], [0.9, 0.1 / 3, 0.1 / 3, 0.1 / 3], rtol=1e-6)
    np.testing.assert_allclose(t.sum(1), 1.0, rtol=1e-6)


# --- the holdout split and the content-hash protocol -------------------------------------

def test_holdout_split_is_stratified_seeded_and_by_content(tmp_path):
    from gmcml_tf.adaptation.photos import holdout_split
    root = _photo_folder(tmp_path / "p", n=40)
    copy = root / "car" / "copy_of_0.png"          # the same bytes under another name and class
    copy.write_bytes((root / "airplanes" / "0.png").read_bytes())
    a, held = holdout_split(root, 0.5, seed=3)
    assert sorted(a + held) == sorted(str(p) for p in root.rglob("*.png"))
    for cls in ("airplanes", "car"):
        assert abs(sum(f"/{cls}/" in p for p in held) - 10) <= 1
    together = {str(copy), str(root / "airplanes" / "0.png")}
    assert together <= set(held) or together <= set(a)
    assert holdout_split(root, 0.5, seed=3) == (a, held)
    assert holdout_split(root, 0.5, seed=4) != (a, held)


# --- end to end on the smoke run ------------------------------------------------------------

def _adapt(run, photos, out, *extra):
    from gmcml_tf.cli import main
    return main(["adapt", "--workdir", str(run), "--photos", str(photos), "--out", str(out),
                 "--rounds", "2", "--steps-per-round", "3", *extra])


def test_self_training_writes_a_run_that_knows_which_photos_it_saw(smoke_run, tmp_path, capsys):
    """Both nets' weights move; per-round lines; adapt.json and the photos' hashes; evaluate
    says TRANSDUCTIVE on a renamed copy of an adapted photo and inductive on the held-out
    half; --holdout-of scores exactly the held-out photos."""
    from gmcml_tf.cli import main
    from gmcml_tf.training.workdir import load_run
    photos = _photo_folder(tmp_path / "photos", n=80)
    out = tmp_path / "adapted"
    assert _adapt(smoke_run, photos, out, "--holdout", "0.5", "--seed", "1") == 0
    text = capsys.readouterr().out
    assert "round 1/2:" in text and "round 2/2:" in text and "flipped" in text
    assert "held out 40 photos" in text
    record = json.loads((out / "adapt.json").read_text())
    assert record["method"] == "self-training" and record["images"] == 40 and record["held_out"] == 40
    assert [r["round"] for r in record["rounds"]] == [1, 2]
    assert set(record["rounds"][0]["per_class"]) <= set(load_run(smoke_run).class_names)
    before, after = load_run(smoke_run).model, load_run(out).model
    for net in ("recon_net", "classifier_net"):   # both nets learn (weight paths repeat: by order)
        pairs = zip(getattr(before, net).trainable_weights, getattr(after, net).trainable_weights)
        assert any(not np.array_equal(a.numpy(), b.numpy()) for a, b in pairs), net
    assert not (out / "checkpoints").exists() and not (out / "adapt_progress.json").exists()
    hashes = json.loads((out / "adapt_photos.json").read_text())
    assert len(hashes["adapted"]) == 40 and len(hashes["held_out"]) == 40
    assert not set(hashes["adapted"]) & set(hashes["held_out"])
    # one adapted photo, renamed, among new ones: transductive, by content
    mixed = _photo_folder(tmp_path / "mixed", n=6, seed=9)
    seen = next(p for p in photos.rglob("*.png") if str(p) not in _held(photos, out))
    (mixed / "car" / "renamed.png").write_bytes(seen.read_bytes())
    res = tmp_path / "r.json"
    assert main(["evaluate", "--workdir", str(out), "--real", str(mixed), "--json", str(res)]) == 0
    assert "TRANSDUCTIVE: 1 of these 7 photos" in capsys.readouterr().out
    assert json.loads(res.read_text())["transductive"]["seen"] == 1
    assert main(["evaluate", "--workdir", str(smoke_run), "--real", str(photos), "--holdout-of", str(out),
                 "--json", str(res)]) == 0
    r = json.loads(res.read_text())
    assert r["n"] == 40 and "transductive" not in r
    assert main(["evaluate", "--workdir", str(out), "--real", str(photos), "--holdout-of", str(out),
                 "--json", str(res)]) == 0
    assert "inductive: the run adapted (self-training) on 40 photos, none of them" in capsys.readouterr().out


def test_the_same_seed_gives_the_same_weights_bit_for_bit(smoke_run, tmp_path):
    """Two adaptations in one process with one seed: identical weights (dropout masks, photo
    draws, augmentation, render batches all follow the seed), and not the unadapted ones."""
    from gmcml_tf.training.workdir import load_run
    photos = _photo_folder(tmp_path / "photos", n=32)
    for name in "ab":
        assert _adapt(smoke_run, photos, tmp_path / name, "--seed", "3") == 0
    base, a, b = (load_run(p).model.weights for p in (smoke_run, tmp_path / "a", tmp_path / "b"))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy(), err_msg=y.path)
    assert any(not np.array_equal(x.numpy(), z.numpy()) for x, z in zip(a, base))


def _held(photos, out):
    from gmcml_tf.adaptation.photos import content_hash
    held = set(json.loads((out / "adapt_photos.json").read_text())["held_out"])
    return {str(p) for p in photos.rglob("*.png") if content_hash(p) in held}


def test_adabn_changes_statistics_only_and_marks_evaluation(smoke_run, tmp_path, capsys):
    """AdaBN: every batch norm's moving statistics move, no weight does."""
    import keras

    from gmcml_tf.cli import main
    from gmcml_tf.training.workdir import load_run
    photos = _photo_folder(tmp_path / "photos", shift=0.4, flat=True)
    out = tmp_path / "adapted"
    assert main(["adapt", "--workdir", str(smoke_run), "--photos", str(photos), "--out", str(out),
                 "--method", "adabn", "--batch-size", "8"]) == 0
    assert "(adabn) on 20 photos" in capsys.readouterr().out
    before, after = load_run(smoke_run).model, load_run(out).model
    changed = {b.path for a, b in zip(before.weights, after.weights)
               if not np.array_equal(a.numpy(), b.numpy())}
    assert changed and all("moving_" in p for p in changed)
    norms = [[layer for layer in m._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
             for m in (before, after)]
    for a, b in zip(*norms):
        assert not np.allclose(a.moving_mean.numpy(), b.moving_mean.numpy()), b.name
    labelled = tmp_path / "labelled" / "car"
    labelled.mkdir(parents=True)
    for p in sorted(photos.glob("*.png"))[:3]:
        (labelled / p.name).write_bytes(p.read_bytes())
    res = tmp_path / "r.json"
    assert main(["evaluate", "--workdir", str(out), "--real", str(labelled.parent), "--json", str(res)]) == 0
    assert "TRANSDUCTIVE: 3 of these 3 photos" in capsys.readouterr().out
    assert json.loads(res.read_text())["transductive"]["images"] == 20


def test_adapt_mean_equals_the_photo_mean_for_the_first_layer():
    """On a one-conv net the adapted moving mean is exactly the mean over all photos."""
    import keras

    from gmcml_tf.adaptation.batchnorm import adapt_batch_norm
    x = keras.Input((8, 8, 3))
    model = keras.Model(x, keras.layers.BatchNormalization(momentum=0.99)(x))
    rng = np.random.default_rng(0)
    batches = [rng.random((b, 8, 8, 3)).astype(np.float32) + 2.0 for b in (16, 16, 16)]
    assert adapt_batch_norm(model, batches) == 48
    bn = model.layers[-1]
    allx = np.concatenate(batches)
    np.testing.assert_allclose(bn.moving_mean.numpy(), allx.mean((0, 1, 2)), atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(),
                               np.mean([b.var((0, 1, 2)) for b in batches], 0), rtol=1e-3)
    assert bn.momentum == 0.99


def test_bad_input_is_one_line_and_writes_nothing(smoke_run, tmp_path, capsys):
    photos = _photo_folder(tmp_path / "few", n=20)
    cases = [
        (tmp_path / "none", "does not exist"),
        (photos, "20 readable photos; --method self-training needs at least 32"),
    ]
    for folder, expected in cases:
        out = tmp_path / "x"
        assert _adapt(smoke_run, folder, out) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and expected in err, err
        assert not out.exists()
    many = _photo_folder(tmp_path / "many", n=40)
    (many / "car" / "broken.jpg").write_bytes(b"not a jpeg at all")
    assert _adapt(smoke_run, many, tmp_path / "x", "--classes", "car,unicorn") == 2
    assert "--classes: unicorn not among the run's classes" in capsys.readouterr().err
    assert _adapt(smoke_run, many, tmp_path / "x", "--min-share", "1.5") == 2
    assert "--min-share 1.5" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert _adapt(smoke_run, many, tmp_path / "x", "--cluster-temperature", "-1") == 2
    assert "--cluster-temperature -1" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert _adapt(smoke_run, many, tmp_path / "x", "--renders", str(tmp_path / "nowhere")) == 2
    assert "not a render folder" in capsys.readouterr().err and not (tmp_path / "x").exists()
    out = tmp_path / "ok"
    assert _adapt(smoke_run, many, out, "--classes", "car,aeroplane") == 0
    text = capsys.readouterr().out
    assert "skipped 1 unreadable photos" in text and "broken.jpg" in text
    assert json.loads((out / "adapt.json").read_text())["classes"] == ["aeroplane", "car"]
    assert _adapt(smoke_run, many, out) == 2
    assert "exists" in capsys.readouterr().err


def test_adapt_resumes_after_kill_9(smoke_run, tmp_path, capsys):
    """Killed after its first round, adapt --resume starts at round 2 and finishes, with the
    unadapted model's probabilities (teacher smoothing) kept across the kill; a resume with
    other settings is refused, naming them."""
    photos = _photo_folder(tmp_path / "photos", n=40)
    out = tmp_path / "adapted"
    cmd = [sys.executable, "-m", "gmcml_tf.cli", "adapt", "--workdir", str(smoke_run), "--photos",
           str(photos), "--out", str(out), "--rounds", "3", "--steps-per-round", "40", "--smoothing-to", "teacher"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    progress = out / "adapt_progress.json"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if progress.is_file() and json.loads(progress.read_text())["rounds"]:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "adapt ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "adapt.json").exists()
    from gmcml_tf.cli import main
    assert main(cmd[3:]) == 2 and "--resume" in capsys.readouterr().err
    assert main([*cmd[3:-2], "--smoothing-to", "uniform", "--resume"]) == 2
    assert "--smoothing-to teacher, not uniform" in capsys.readouterr().err
    assert main([*cmd[3:], "--min-share", "0.02", "--resume"]) == 2
    assert "--min-share 0.005, not 0.02" in capsys.readouterr().err
    assert main([*cmd[3:], "--pseudo-labels", "shot", "--resume"]) == 2
    assert "--pseudo-labels agree, not shot" in capsys.readouterr().err
    assert main([*cmd[3:], "--resume"]) == 0
    text = capsys.readouterr().out
    assert "after round 1 of 3" in text and "round 1/3" not in text and "round 3/3" in text
    assert [r["round"] for r in json.loads((out / "adapt.json").read_text())["rounds"]] == [1, 2, 3]


def test_a_collapsed_round_is_undone_and_adaptation_stops(smoke_run, tmp_path, monkeypatch):
    """Predictions that collapse after round 1 undo it: the adapted model is the unadapted one,
    weight for weight and statistic for statistic, and no round 2 runs."""
    from gmcml_tf.adaptation import pseudo_labels
    from gmcml_tf.adaptation.runner import adapt
    from gmcml_tf.adaptation.self_training import SelfTrainingConfig
    from gmcml_tf.training.workdir import load_run
    photos = _photo_folder(tmp_path / "photos", n=40)
    lines = []
    monkeypatch.setattr(pseudo_labels, "collapse", lambda *a, **k: "car grew from 40% to 90% of the photos")
    r = adapt(smoke_run, photos, tmp_path / "out", settings=SelfTrainingConfig(rounds=2, steps_per_round=3),
              say=lines.append)
    assert [x["collapse"] for x in r["rounds"]] == ["car grew from 40% to 90% of the photos"]
    assert r["settings"]["smoothing_to"] == "teacher" and r["settings"]["min_share"] == 0.005
    assert any("round 1 undone" in line and "keeping round 0" in line for line in lines)
    before, after = load_run(smoke_run).model, load_run(tmp_path / "out").model
    for a, b in zip(before.weights, after.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=b.path)


def test_the_python_api_adapts_and_scores_the_held_out_photos(smoke_run, tmp_path):
    import gmcml_tf as gm
    photos = _photo_folder(tmp_path / "photos", n=24)
    adapted = gm.adapt(smoke_run, photos, tmp_path / "out", method="adabn", holdout=0.5, seed=2)
    assert adapted.summary["method"] == "adabn" and adapted.summary["images"] == 12
    r = gm.evaluate(adapted, str(photos), holdout_of=tmp_path / "out", save=False)
    assert r["n"] == 12 and r["adapted"]["seen"] == 0 and "transductive" not in r


def test_an_fcn_run_adapts_on_the_photos_alone(smoke_render, tmp_path):
    """The FCN ablation (another reconstruction net) self-trains too, here without its renders
    (--renders none): the photo loss alone moves the weights."""
    from gmcml_tf.config import load_config
    from gmcml_tf.training.train import fit
    from gmcml_tf.training.workdir import load_run
    render_cfg, _ = smoke_render
    cfg = load_config(REPO / "configs" / "smoke.yaml", [f"train.data={render_cfg.out}", "model.recon=fcn"])
    fit(cfg, tmp_path / "fcn", show_progress=False)
    photos = _photo_folder(tmp_path / "photos", n=40)
    assert _adapt(tmp_path / "fcn", photos, tmp_path / "out", "--renders", "none") == 0
    record = json.loads((tmp_path / "out" / "adapt.json").read_text())
    assert record["renders"] is None and len(record["rounds"]) == 2
    assert load_run(tmp_path / "out").config.model.recon == "fcn"
    before, after = load_run(tmp_path / "fcn").model, load_run(tmp_path / "out").model
    assert any(not np.array_equal(a.numpy(), b.numpy())
               for a, b in zip(before.classifier_net.trainable_weights, after.classifier_net.trainable_weights))
