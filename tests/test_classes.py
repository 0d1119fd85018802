"""Class lists (tfrecords_tools/classes.py): the library's names or the PASCAL3D+ preset, the
palette for any N, the bad-input refusals, ShapeNet beyond the 12, and runs and renders made
before class lists travelled with the data."""
from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from conftest import REPO, smoke_config
from tfrecords_tools import categories
from tfrecords_tools.classes import (ClassError, ClassList, key, palette, pascal3d, portable_problem,
                                     resolve, separation)
from tfrecords_tools.meshes import open_source


def _mesh(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.creation.box((1, 0.5, 0.3)).export(path)


def test_names_match_up_to_case_width_and_separators():
    assert key("Dirt Bike") == key("dirt_bike") == key("DIRT-BIKE") == key("dirt.bike") == key("ｄｉｒｔ bike")
    assert key("Würfel") == key("WÜRFEL") != key("wurfel")


def test_preset_names_keep_the_preset_and_any_other_name_makes_the_librarys_list():
    assert resolve(["airplanes", "car", "chair"]) == pascal3d()
    mine = resolve(["mug", "Dirt Bike", "car"])
    assert mine.names == ("car", "Dirt Bike", "mug") and mine.preset is None
    assert mine.colors[0] == categories.PALETTE[categories.CATEGORIES.index("car")]
    chosen = resolve(["mug", "Dirt Bike", "car", "drill"], selection=["DRILL", "dirt_bike"])
    assert chosen.names == ("drill", "Dirt Bike")        # the selection's order, the folders' spelling
    assert resolve(["aeroplane", "boat"], selection=["boat", "airplane"]).names == ("boat", "aeroplane")
    assert mine.match("dirt-bike") == "Dirt Bike" and mine.match("cars") == "car" and mine.match("x") is None
    assert mine.match("bikes", {"Bikes": "dirt bike"}) == "Dirt Bike"


@pytest.mark.parametrize("found, selection, message", [
    (["Mug", "mug "], None, "'Mug' and 'mug ' have the same name"),
    (["mug", "drill"], ["mug", "hammer"], "'hammer' is not a category folder"),
    (["mug", "drill"], ["mug", "MUG"], "a second time"),
    (["mug"], None, r"1 category with meshes \(mug\); a classifier needs at least 2"),
    (["mug", "con"], None, "'con' is a name Windows reserves"),
    (["mug", "a:b"], None, "forbids"),
    (["mug", "dots."], None, "ends with a space or a dot"),
    (["car", "cars", "mug"], None, "two category folders stand for 'car'"),
    ([f"c{i}" for i in range(1001)], None, "at most 1000"),
])
def test_bad_libraries_are_refused_in_one_line(found, selection, message):
    with pytest.raises(ClassError, match=message) as e:
        resolve(found, selection)
    assert "\n" not in str(e.value)


def test_portable_names():
    assert portable_problem("Tasse à café") is None and portable_problem("x" * 300) is not None


def test_the_palette_is_deterministic_far_apart_and_keeps_the_authors_colours():
    names = [f"part {i:02d}" for i in range(40)]
    p = palette(names)
    assert p == palette(list(names)) and len(set(p)) == 40
    assert all(max(c) == 1.0 for c in p)          # one colour per shading ray
    sep = separation(p)
    assert sep["min_delta_e"] >= 20                # measured 22.5 (docs/method.md §1)
    assert separation(pascal3d().colors)["min_delta_e"] < sep["min_delta_e"]
    assert len(set(palette([f"c{i}" for i in range(1000)]))) == 1000   # a finer grid past 200
    mixed = palette(["car", "mug", "drill"])
    assert mixed[0] == categories.PALETTE[5]
    lab = separation([mixed[0], mixed[1]])["min_delta_e"]
    assert lab > 60                                # the new colours keep away from the fixed one


def test_an_empty_folder_is_listed_and_a_library_left_with_one_category_is_refused(tmp_path):
    _mesh(tmp_path / "lib/mug/a.ply")
    _mesh(tmp_path / "lib/drill/a.ply")
    (tmp_path / "lib/hammer").mkdir()
    src = open_source(str(tmp_path / "lib"))
    assert src.classes.names == ("drill", "mug") and src.ignored_folders == ["hammer"]
    (tmp_path / "lib/drill/a.ply").unlink()
    with pytest.raises(ClassError, match="a classifier needs at least 2"):
        open_source(str(tmp_path / "lib"))


def test_render_refuses_before_writing_anything(tmp_path):
    from gmcml_tf.cli.main import main
    _mesh(tmp_path / "lib/mug/a.ply")
    _mesh(tmp_path / "lib/Mug_/a.ply")
    out = tmp_path / "out"
    assert main(["render", "--config", str(REPO / "configs/smoke.yaml"), "--meshes", str(tmp_path / "lib"),
                 "--out", str(out), "--no-progress"]) == 2
    assert not out.exists()


def test_render_categories_selects_and_orders_the_labels(tmp_path, capsys):
    from gmcml_tf.cli.main import main
    for name in ("mug", "drill", "Dirt Bike"):
        for i in range(2):
            _mesh(tmp_path / "lib" / name / f"{i}.ply")
    out = tmp_path / "out"
    assert main(["render", "--config", str(REPO / "configs/smoke.yaml"), "--meshes", str(tmp_path / "lib"),
                 "--out", str(out), "--no-progress", "--workers", "1", "--categories", "mug,dirt bike",
                 "--set", "backgrounds=none", "--set", "size=32"]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert [(c["name"], c["label"]) for c in m["classes"]] == [("mug", 0), ("Dirt Bike", 1)]
    assert m["class_list"]["folders_not_selected"] == ["drill"]
    assert "not in render.categories: drill" in capsys.readouterr().out
    # the selection is part of the render's identity: another one into the same folder is refused
    assert main(["render", "--config", str(REPO / "configs/smoke.yaml"), "--meshes", str(tmp_path / "lib"),
                 "--out", str(out), "--no-progress", "--categories", "mug,drill",
                 "--set", "backgrounds=none", "--set", "size=32"]) == 2


def test_shapenet_synsets_beyond_the_12_by_name_or_id(tmp_path):
    root = tmp_path / "ShapeNetCore.v2"
    for synset, model in (("02958343", "car1"), ("03797390", "mug1"), ("03467517", "guitar1")):
        _mesh(root / synset / model / "models" / "model_normalized.obj")
    src = open_source(f"shapenet:{root}")                       # no taxonomy, no selection: the 12
    assert src.classes == pascal3d() and [r.category for r in src.models()] == ["car"]
    (root / "taxonomy.json").write_text(json.dumps([
        {"synsetId": "03797390", "name": "mug", "children": [], "numInstances": 1},
        {"synsetId": "03467517", "name": "guitar", "children": [], "numInstances": 1},
        {"synsetId": "02958343", "name": "car,auto,automobile,machine,motorcar", "children": []}]))
    assert open_source(f"shapenet:{root}").classes == pascal3d()  # still the 12 without a selection
    src = open_source(f"shapenet:{root}", categories=["mug", "03467517", "automobile"])
    assert src.classes.names == ("mug", "guitar", "car")
    assert sorted((r.category, r.model_id) for r in src.models()) == [
        ("car", "car1"), ("guitar", "guitar1"), ("mug", "mug1")]
    with pytest.raises(ClassError, match="'violin' is not a category folder"):
        open_source(f"shapenet:{root}", categories=["mug", "violin"])


def test_view_split_band_and_guards():
    import dataclasses
    from tfrecords_tools.meshes import ModelRef
    from tfrecords_tools.plan import VIEW_SPLIT_GUARD_DEGREES, val_band, view_direction, view_slots
    cfg = dataclasses.replace(smoke_config(), views_per_model=64, val_fraction=0.2)
    ref = ModelRef("widget", "only", "x.ply")
    start, width = val_band(cfg, "widget")
    val, train = view_slots(cfg, ref, "val"), view_slots(cfg, ref, "train")
    assert val and train and not set(val) & set(train)
    for slot in range(cfg.views_per_model):
        d = view_direction(cfg, ref, slot)[1]
        off = (np.degrees(np.arctan2(d[1], d[0])) - start) % 360
        assert (slot in val) == (off < width)
        assert (slot in train) == (width + VIEW_SPLIT_GUARD_DEGREES <= off <= 360 - VIEW_SPLIT_GUARD_DEGREES)


def test_old_renders_and_runs_read_as_the_preset(smoke_render, tmp_path):
    """A shard folder and a run written before class lists were recorded."""
    import shutil
    from gmcml_tf.data.shards import read_classes
    from gmcml_tf.training.workdir import read_run_classes
    cfg, m = smoke_render
    assert m["class_list"]["preset"] == "pascal3d" and [c["name"] for c in m["classes"]] == list(categories.CATEGORIES)
    old = tmp_path / "old_render"
    shutil.copytree(cfg.out, old)
    manifest = json.loads((old / "manifest.json").read_text())
    for k in ("classes", "class_list"):
        manifest.pop(k)
    (old / "manifest.json").write_text(json.dumps(manifest))
    assert read_classes(old) == pascal3d()
    fixture = REPO / "tests/fixtures/run_before_0.2"
    classes, note = read_run_classes(fixture, 12)
    assert classes.names == categories.CATEGORIES and note == ""
    assert ClassList.from_manifest(pascal3d().to_manifest()).names == categories.CATEGORIES


def test_a_category_whose_meshes_all_fail_leaves_one_class_and_the_render_writes_nothing(tmp_path, capsys):
    from gmcml_tf.cli.main import main
    _mesh(tmp_path / "lib/mug/a.ply")
    _mesh(tmp_path / "lib/mug/b.ply")
    (tmp_path / "lib/drill").mkdir(parents=True)
    (tmp_path / "lib/drill/broken.obj").write_text("v 0 0 0\nf 1 1 1\n")   # no usable face
    out = tmp_path / "out"
    assert main(["render", "--config", str(REPO / "configs/smoke.yaml"), "--meshes", str(tmp_path / "lib"),
                 "--out", str(out), "--no-progress", "--workers", "1", "--set", "backgrounds=none"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "only 1 category had a readable mesh (mug)" in err
    assert "nothing was written" in err and not out.exists()


def test_the_confusion_figure_stays_legible_at_40_classes(tmp_path):
    from PIL import Image
    from gmcml_tf.evaluation.plots import confusion
    m = np.eye(40, dtype=int) * 9 + 1
    path = confusion(m.tolist(), [f"part {i:02d}" for i in range(40)], tmp_path / "c.png", "40 classes")
    with Image.open(path) as im:
        assert im.size[0] >= 40 * 30 and im.size[1] >= 40 * 30   # at least 30 px a class
