"""A user's own objects, end to end: a library of 4 categories outside the PASCAL3D+ 12 (a name
with a space and capitals, one with a non-ASCII letter, one with a single model) goes through
render -> fit -> evaluate (photos cut from held-out renders) -> export -> predict and serve, and
the class names come back, as written, at every step."""
from __future__ import annotations

import base64
import io
import json

import httpx
import numpy as np
import pytest
import trimesh
from PIL import Image

from conftest import REPO

NAMES = ("Coffee Mug", "drill", "Würfel", "zahnrad")   # sorted by key: the label order


def _library(root):
    """Trimesh primitives: mugs are cylinders, drills capsules, gears tori; one cube."""
    shapes = {
        "Coffee Mug": [trimesh.creation.cylinder(radius=r, height=h) for r, h in ((0.5, 1.0), (0.6, 0.9))],
        "drill": [trimesh.creation.capsule(height=h, radius=0.15) for h in (1.6, 1.9)],
        "zahnrad": [trimesh.creation.torus(1.0, r) for r in (0.25, 0.35)],
        "Würfel": [trimesh.creation.box((1, 1, 1))],
    }
    for name, meshes in shapes.items():
        (root / name).mkdir(parents=True)
        for i, mesh in enumerate(meshes):
            mesh.export(root / name / f"m{i}.{('ply', 'glb')[i % 2]}")
    (root / "empty folder").mkdir()          # no mesh: listed and skipped
    return root


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    from gmcml_tf.config import load_config
    from tfrecords_tools.runners import render
    tmp = tmp_path_factory.mktemp("own")
    lib = _library(tmp / "lib")
    cfg = load_config(REPO / "configs" / "smoke.yaml", [
        f"render.meshes={json.dumps(str(lib))}", f"render.out={json.dumps(str(tmp / 'shards'))}",
        "render.backgrounds=none", "render.size=32", "render.views_per_model=12", "render.workers=1",
        "render.val_fraction=0.25", "render.up_axis=z"]).render
    return tmp, cfg, render(cfg, show_progress=False)


def test_the_library_names_the_classes_and_the_single_model_is_split_by_view(rendered):
    from tfrecords_tools.classes import key
    from tfrecords_tools.schema import decode_example, read_records
    tmp, cfg, m = rendered
    classes = m["classes"]
    assert [c["name"] for c in classes] == list(NAMES) and [c["label"] for c in classes] == [0, 1, 2, 3]
    assert m["class_list"]["folders_without_meshes"] == ["empty folder"] and m["class_list"]["preset"] is None
    split = {c["name"]: c["split"] for c in classes}
    assert split == {"Coffee Mug": "model", "drill": "model", "Würfel": "view", "zahnrad": "model"}
    cube = next(c for c in classes if c["name"] == "Würfel")
    assert cube["models"] == {"train": 1, "val": 1} and cube["views"]["val"] > 0 and cube["views"]["train"] > 0
    start, width = cube["val_azimuths"]
    colors = {c["name"]: np.array(c["color"]) for c in classes}
    seen = set()
    for shard in sorted((tmp / "shards").glob("*.tfrecord")):
        for data in read_records(str(shard)):
            ex = decode_example(data)
            name = ex["category"].decode()
            seen.add(name)
            assert NAMES[ex["label"]] == name
            # the mask is the class's colour times a shading factor in [0.25, 1]: every object
            # pixel lies on that colour's ray
            mask = np.asarray(Image.open(io.BytesIO(ex["mask/encoded"])), np.float64) / 255
            px = mask[mask.max(-1) > 0]
            s = (px @ colors[name]) / (colors[name] @ colors[name])
            assert np.abs(px - s[:, None] * colors[name]).max() < 0.02 and s.min() > 0.2
            if name == "Würfel":   # held-out azimuth band in val; train clear of it and its guards
                offset = (ex["pose/azimuth"] - start) % 360
                if ex["split"] == b"val":
                    assert offset < width + 1e-3
                else:
                    assert width + 15 - 1e-3 <= offset <= 345 + 1e-3
    assert seen == set(NAMES)
    assert len({key(n) for n in NAMES}) == 4 and len({tuple(c) for c in colors.values()}) == 4


def _photos(tmp, m):
    """Photos cut from the held-out renders: folders named in another case and separator style,
    a folder matching no class, and one class left without photos."""
    from tfrecords_tools.schema import decode_example, read_records
    root = tmp / "photos"
    folder = {"Coffee Mug": "coffee_mug", "drill": "DRILL", "zahnrad": "Zahnrad"}
    for shard in sorted((tmp / "shards").glob("val-*.tfrecord")):
        for i, data in enumerate(read_records(str(shard))):
            ex = decode_example(data)
            name = ex["category"].decode()
            if name in folder:
                (root / folder[name]).mkdir(parents=True, exist_ok=True)
                (root / folder[name] / f"{shard.stem}-{i}.png").write_bytes(ex["image/encoded"])
    (root / "faces").mkdir()
    (root / "faces" / "x.png").write_bytes(ex["image/encoded"])
    return root


def test_fit_evaluate_export_predict_and_serve_speak_the_library_names(rendered, tmp_path, capsys):
    from gmcml_tf.cli.main import main
    from gmcml_tf.config import load_config
    from gmcml_tf.serving import rest
    from gmcml_tf.serving.app import create_app
    from gmcml_tf.serving.repository import ModelRepository
    from gmcml_tf.training.train import fit
    from gmcml_tf.training.workdir import load_run
    from serving_fixtures import running_server
    tmp, rcfg, m = rendered
    cfg = load_config(REPO / "configs" / "smoke.yaml", [f"train.data={json.dumps(rcfg.out)}"])
    assert cfg.model.num_classes is None          # the configs leave it to the data
    run_dir = tmp_path / "run"
    fit(cfg, run_dir, show_progress=False)
    run = load_run(run_dir)
    assert run.class_names == list(NAMES) and run.config.model.num_classes == 4
    assert "Würfel: by view" in run.val_split
    assert run.model(np.zeros((1, 32, 32, 3), np.float32))["logits"].shape[-1] == 4
    assert (run_dir / "tensorboard/projector/projector_metadata.tsv").read_text().split("\n")[0] in NAMES

    photos = _photos(tmp, m)
    out = tmp_path / "real.json"
    assert main(["evaluate", "--workdir", str(run_dir), "--real", str(photos), "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["classes"] == list(NAMES) and r["confusion"]["labels"] == list(NAMES)
    assert r["unmapped_folders"] == ["faces"] and r["classes_without_photos"] == ["Würfel"]
    assert {k for k, v in r["per_class"].items() if v["n"]} == {"Coffee Mug", "drill", "zahnrad"}
    assert "Würfel: by view" in r["val_split"]
    printed = capsys.readouterr().out
    assert "classes with no photos: Würfel" in printed and "faces" in printed
    # --alias maps a folder the names miss
    assert main(["evaluate", "--workdir", str(run_dir), "--real", str(photos), "--json", str(out),
                 "--alias", "faces=WÜRFEL"]) == 0
    assert json.loads(out.read_text())["per_class"]["Würfel"]["n"] == 1
    # photos that share no name with the run: one line naming both lists
    (tmp_path / "other/cats").mkdir(parents=True)
    (tmp_path / "other/cats/x.png").write_bytes((photos / "faces/x.png").read_bytes())
    capsys.readouterr()
    assert main(["evaluate", "--workdir", str(run_dir), "--real", str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cats" in err and "Coffee Mug" in err and "--alias" in err

    adapted = tmp_path / "adapted"
    assert main(["adapt", "--workdir", str(run_dir), "--photos", str(photos), "--out", str(adapted),
                 "--rounds", "1", "--steps-per-round", "2"]) == 0
    assert load_run(adapted).class_names == list(NAMES)
    assert set(json.loads((adapted / "adapt.json").read_text())["rounds"][0]["per_class"]) <= set(NAMES)

    base = tmp_path / "saved_models/own"
    assert main(["export", "--workdir", str(run_dir), "--out", str(base)]) == 0
    from gmcml_tf.serving.export import read_metadata
    meta = read_metadata(base / "1")
    assert meta["class_names"] == list(NAMES) and [c["name"] for c in meta["classes"]] == list(NAMES)
    card = (base / "1/assets.extra/model_card.md").read_text()
    assert "Coffee Mug, drill, Würfel, zahnrad" in card and "one of the 4 classes" in card

    image = next((photos / "DRILL").glob("*.png"))
    capsys.readouterr()
    assert main(["predict", str(image), "--model", str(base), "--json", "--top-k", "4"]) == 0
    top = json.loads(capsys.readouterr().out)[0]["top_k"]
    assert sorted(t["class"] for t in top) == sorted(NAMES)

    repo = ModelRepository(base, poll_s=0.0)
    try:
        with running_server(create_app(repo, rest.Limits(max_batch=4, max_pixels=10 ** 6,
                                                         max_body_bytes=2 ** 20))) as url:
            got = httpx.get(f"{url}/v1/models/own/metadata").json()["metadata"]["gmcml_tf"]
            assert got["class_names"] == list(NAMES)
            body = {"instances": [{"b64": base64.b64encode(image.read_bytes()).decode()}]}
            pred = httpx.post(f"{url}/v1/models/own:predict", json=body)
            assert pred.status_code == 200
            assert pred.json()["predictions"][0]["class_name"] in NAMES
            assert sorted(pred.json()["predictions"][0]["classes"]) == sorted(NAMES)
    finally:
        repo.close()
