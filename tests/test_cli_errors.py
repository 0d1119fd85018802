"""Bad input to `gmcml-tf`: one clear line naming the file or key, exit 2, no traceback."""
import json
import subprocess
import sys

import pytest

from conftest import REPO


def run(*args, cwd=None):
    p = subprocess.run([sys.executable, "-m", "gmcml_tf.cli", *args], capture_output=True, text=True,
                       cwd=cwd or REPO, timeout=300)
    return p.returncode, p.stdout, p.stderr


def assert_user_error(code, err, *needles):
    assert code == 2, err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, err


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_unknown_config_key_suggests_the_closest(tmp_path):
    cfg = write(tmp_path / "c.yaml", "render:\n  views_per_modl: 3\n")
    code, _, err = run("render", "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert_user_error(code, err, "c.yaml", "render.views_per_modl", "did you mean 'render.views_per_model'")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("body,needle", [
    ("render:\n  size: big\n", "render.size: expected int"),
    ("render:\n  size: -5\n", "render.size: -5 must be"),
    ("render:\n  camera:\n    distance: [0.5, 3]\n", "render.camera.distance"),
    ("render: [1, 2\n", "not valid YAML"),
    ("trainning:\n  epochs: 3\n", "unknown config key 'trainning'"),
])
def test_bad_config_values(tmp_path, body, needle):
    cfg = write(tmp_path / "c.yaml", body)
    code, _, err = run("render", "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert_user_error(code, err, needle)


def test_missing_config_file_and_bad_flags(tmp_path):
    code, _, err = run("render", "--config", str(tmp_path / "nope.yaml"))
    assert_user_error(code, err, "nope.yaml", "does not exist")
    code, _, err = run("render", "--size", "abc")
    assert code == 2 and "--size" in err and "Traceback" not in err
    code, _, err = run("render", "--set", "camera.fov_dg=40", "--out", str(tmp_path / "o"))
    assert_user_error(code, err, "render.camera.fov_dg", "fov_deg")


def test_missing_mesh_folder_and_empty_background_folder(tmp_path):
    code, _, err = run("render", "--config", "configs/smoke.yaml", "--meshes", str(tmp_path / "none"),
                       "--out", str(tmp_path / "o"))
    assert_user_error(code, err, str(tmp_path / "none"))
    (tmp_path / "empty_bg").mkdir()
    write(tmp_path / "empty_bg" / "notes.txt", "not an image")
    code, _, err = run("render", "--config", "configs/smoke.yaml", "--backgrounds",
                       str(tmp_path / "empty_bg"), "--out", str(tmp_path / "o2"), "--workers", "1")
    assert_user_error(code, err, "empty_bg", "no readable image")


def test_corrupt_mesh_is_skipped_and_reported(tmp_path):
    lib = tmp_path / "lib"
    write(lib / "car" / "good.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\n"
          "f 1 3 2\nf 1 2 4\nf 2 3 4\nf 3 1 4\n")
    (lib / "car" / "broken.glb").write_bytes(b"\x00garbage" * 10)
    write(lib / "chair" / "good2.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 2\n"
          "f 1 3 2\nf 1 2 4\nf 2 3 4\nf 3 1 4\n")
    out = tmp_path / "o"
    code, stdout, err = run("render", "--config", "configs/smoke.yaml", "--meshes", str(lib),
                            "--backgrounds", "none", "--out", str(out), "--workers", "1", "--no-progress",
                            "--set", "val_fraction=0")
    assert code == 0, err
    assert "skipped 1 meshes" in stdout and "broken" in stdout
    manifest = json.loads((out / "manifest.json").read_text())
    (key, info), = manifest["skipped_meshes"].items()
    assert key == "car/broken" and info["path"].endswith("broken.glb") and info["reason"]
    assert manifest["splits"]["train"]["per_category"] == {"car": 4, "chair": 4}


def test_data_commands_on_a_folder_without_shards(tmp_path):
    code, _, err = run("data", "stats", str(tmp_path))
    assert_user_error(code, err, "holds no shards")
    code, _, err = run("data", "preview", str(tmp_path / "missing"), "--out", str(tmp_path / "g.png"))
    assert_user_error(code, err, "is not a folder")


def test_paths_of_the_wrong_kind(smoke_render, tmp_path):
    """A file where a folder belongs, a folder that is missing: one line, nothing created."""
    a_file = write(tmp_path / "a_file", "x")
    data = smoke_render[0].out
    cases = [
        (("render", "--config", "configs/smoke.yaml", "--out", str(a_file)), "is a file, not a folder"),
        (("render", "--config", "configs/smoke.yaml", "--out", str(a_file / "sub")), "a_file"),
        (("data", "stats", str(a_file)), "is not a folder"),
        (("data", "stats", data, "--photos", str(tmp_path / "nope")), "photo folder"),
        (("data", "preview", data, "--out", str(a_file / "p.png")), "a_file"),
        (("fit", "--config", "configs/smoke.yaml", "--data", data, "--workdir", str(a_file)),
         "is a file, not a folder"),
    ]
    for args, needle in cases:
        code, _, err = run(*args)
        assert_user_error(code, err, needle)
        assert err.strip().splitlines()[-1].startswith("gmcml-tf: error: "), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_demo_checks_its_inputs_before_rendering(tmp_path):
    """A missing --photos folder or a bad --set is found before minutes of render and fit."""
    base = ["demo", "--data", str(tmp_path / "data"), "--workdir", str(tmp_path / "run"),
            "--export", str(tmp_path / "export")]
    code, _, err = run(*base, "--photos", str(tmp_path / "nope"))
    assert_user_error(code, err, "photo folder", "nope")
    code, _, err = run(*base, "--set", "train.batch_sise=3")
    assert_user_error(code, err, "train.batch_sise")
    code, _, err = run(*base, "--model", "gm_cm")
    assert code == 2 and "gm_cml" in err and "zigzagnet" in err
    assert list(tmp_path.iterdir()) == []


def test_model_folders_without_a_version_are_one_line(tmp_path):
    """`bench serve` and `predict` on a model folder that holds no version, or none at all."""
    empty = tmp_path / "empty_model"
    empty.mkdir()
    photo = tmp_path / "x.png"
    from PIL import Image
    Image.new("RGB", (8, 8)).save(photo)
    for args, needle in [(("bench", "serve", "--model", str(empty)), "no version folder"),
                         (("bench", "serve", "--model", str(tmp_path / "nope")), "no such model folder"),
                         (("predict", "--model", str(empty), str(photo)), "no version folder")]:
        code, _, err = run(*args)
        assert_user_error(code, err, needle)
