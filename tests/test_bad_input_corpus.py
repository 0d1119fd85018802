"""Bad-input corpus (issue 7): meshes and configs a user may really feed `gmcml-tf`.

Every file is generated here, in tmp_path. What a user relies on: a bad mesh is skipped
with a one-line reason naming it and the render still succeeds; a library with nothing
usable, or a bad config, ends in one `gmcml-tf: error:` line, exit 2, no traceback and
nothing left in --out / --workdir. (Loader details live in test_meshes.py, the first
config errors in test_cli_errors.py; this file does not repeat them.)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from gmcml_tf.cli import main
from tfrecords_tools.mesh_io import MAX_FILE_BYTES, MeshError, load_file

TETRA = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 2 3 4\nf 3 1 4\n"
TEXTURED = ("mtllib {mtl}\nv 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nvt 0 0\nvt 1 0\nvt 0 1\nusemtl skin\n"
            "f 1/1 3/3 2/2\nf 1/1 2/2 4/3\nf 2/2 3/3 4/1\nf 3/1 1/2 4/3\n")
HUGE = 10_000_000
DEGRADED = ("no_mtl", "no_texture", "fake_texture")


def write_huge_ply(path: Path, triangles: int = HUGE) -> Path:
    """A real binary PLY of `triangles` faces (a 1000x1000 grid's 2M faces, repeated),
    written in blocks: ~190 MB on disk, ~30 MB of RAM, about a second."""
    k = 1001
    x, y = np.meshgrid(np.arange(k, dtype="<f4"), np.arange(k, dtype="<f4"))
    verts = np.stack([x.ravel(), y.ravel(), np.sin(x.ravel())], 1).astype("<f4")
    i = np.arange(k * k, dtype="<i4").reshape(k, k)
    a, b, c, d = i[:-1, :-1].ravel(), i[:-1, 1:].ravel(), i[1:, :-1].ravel(), i[1:, 1:].ravel()
    block = np.empty(2 * len(a), dtype=[("n", "u1"), ("i", "<i4", (3,))])
    block["n"], block["i"] = 3, np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])
    assert triangles % len(block) == 0
    with open(path, "wb") as f:
        f.write(f"ply\nformat binary_little_endian 1.0\nelement vertex {len(verts)}\nproperty float x\n"
                f"property float y\nproperty float z\nelement face {triangles}\n"
                "property list uchar int vertex_indices\nend_header\n".encode())
        f.write(verts.tobytes())
        for _ in range(triangles // len(block)):
            f.write(block.tobytes())
    return path


def textured(folder: Path, stem: str, texture: str | None, image: bytes | None = None) -> None:
    (folder / f"{stem}.obj").write_text(TEXTURED.format(mtl=f"{stem}.mtl"))
    if texture is not None:
        (folder / f"{stem}.mtl").write_text(f"newmtl skin\nKd 1 1 1\nmap_Kd {texture}\n")
    if image is not None:
        (folder / texture).write_bytes(image)


def bad_meshes(car: Path, huge: Path | None = None) -> dict[str, str]:
    """Write the meshes that must be skipped into `car` (`huge`: a 10M-triangle PLY to link
    rather than write again); returns model id -> reason."""
    car.mkdir(parents=True, exist_ok=True)
    files = {
        "empty.obj": (b"", "empty file"),
        "no_faces.obj": (b"v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no triangles"),
        "nan.obj": (b"v nan 0 0\nv 0 nan 0\nv 0 0 nan\nf 1 2 3\n", "non-finite"),
        "inf.ply": (b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                    b"property float z\nelement face 1\nproperty list uchar int vertex_indices\n"
                    b"end_header\ninf 0 0\n0 inf 0\n0 0 -inf\n3 0 1 2\n", "non-finite"),
        "degenerate.obj": (b"v 0 0 0\nv 1 0 0\nv 2 0 0\nv 0 1 0\nf 1 2 3\nf 4 4 1\nf 2 2 2\n", "zero area"),
        "garbage.glb": (b"glTF\x02\x00\x00\x00" + os.urandom(200), "unreadable"),
    }
    for name, (data, _) in files.items():
        (car / name).write_bytes(data)
    os.link(huge, car / "huge.ply") if huge else write_huge_ply(car / "huge.ply")
    with open(car / "sparse.stl", "wb") as f:       # over the size cap, on no disk: a copy gone wrong
        f.truncate(MAX_FILE_BYTES + 1)
    # a non-UTF-8 file name (Latin-1 from an old archive) on a file that is also bad
    with open(os.path.join(os.fsencode(car), b"bad_\xff.obj"), "wb") as f:
        f.write(b"v 0 0 0\n")
    reasons = {Path(n).stem: r for n, (_, r) in files.items()}
    reasons.update({"huge": f"too large to load: {HUGE} triangles", "sparse": "file too large",
                    "bad_\\xff": "no triangles"})
    if os.geteuid() != 0:   # root reads a chmod 000 file anyway
        (car / "locked.obj").write_text(TETRA)
        (car / "locked.obj").chmod(0)
        reasons["locked"] = "Permission denied"
    # symlink loops: a folder pointing at its parent, at itself, two files pointing at each other
    os.symlink("..", car / "parent")
    os.symlink(".", car / "self")
    os.symlink("b_loop.obj", car / "a_loop.obj")
    os.symlink("a_loop.obj", car / "b_loop.obj")
    return reasons


def degraded_meshes(car: Path) -> set[str]:
    """Meshes that render with the material colour: their texture or MTL is missing or bad."""
    textured(car, "no_mtl", None)
    textured(car, "no_texture", "nowhere.png")
    textured(car, "fake_texture", "fake.png", b"this is not an image\n")
    return set(DEGRADED)


@pytest.fixture(scope="module")
def libraries(tmp_path_factory):
    """(bad-only library, mixed library, {id: reason} of the skipped, ids rendered)."""
    root = tmp_path_factory.mktemp("corpus")
    reasons = bad_meshes(root / "bad/car")
    mixed = root / "mixed/car"
    bad_meshes(mixed, huge=root / "bad/car/huge.ply")
    degraded = degraded_meshes(mixed)
    (mixed / "good.obj").write_text(TETRA)
    with open(os.path.join(os.fsencode(mixed), b"caf\xe9.obj"), "w") as f:
        f.write(TETRA)      # a good mesh with a non-UTF-8 name renders like any other
    latin1 = {b"tex\xe9.obj": TEXTURED.encode().replace(b"{mtl}", b"tex\xe9.mtl"),   # an old
              b"tex\xe9.mtl": b"newmtl skin\nKd 1 1 1\nmap_Kd t\xe9x.png\n"}         # archive's
    for name, data in latin1.items():                                                 # names
        with open(os.path.join(os.fsencode(mixed), name), "wb") as f:
            f.write(data)
    Image.fromarray(np.full((4, 4, 3), 200, np.uint8)).save(os.path.join(os.fsencode(mixed), b"t\xe9x.png"))
    (root / "mixed" / os.fsdecode(b"\xff\xfe")).mkdir()    # a category folder nobody can name
    return root / "bad", root / "mixed", reasons, degraded | {"good", "caf\\xe9", "tex\\xe9"}


def cli(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:     # argparse
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(code, err, *needles):
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gmcml-tf: error: "), err
    for n in needles:
        assert str(n) in lines[0], err


def leftovers(out: Path) -> list[str]:
    """Shards, sidecars, temporaries: anything a failed run must not leave behind."""
    return sorted(str(p.relative_to(out)) for p in out.rglob("*")) if out.exists() else []


RENDER = ["render", "--config", REPO / "configs/smoke.yaml", "--backgrounds", "none", "--size", "32",
          "--views-per-model", "1", "--workers", "1", "--no-progress", "--set", "val_fraction=0"]


# ------------------------------------------------------------------- meshes
def test_mixed_library_renders_the_good_and_names_each_bad(libraries, capsys, tmp_path):
    _, mixed, reasons, rendered = libraries
    out = tmp_path / "out"
    code, stdout, err = cli(capsys, *RENDER, "--meshes", mixed.parent / "mixed", "--out", out)
    assert code == 0, err
    assert "Traceback" not in err
    assert f"skipped {len(reasons)} meshes" in stdout
    for mid, reason in reasons.items():     # one line per mesh: its name and why
        line, = [ln for ln in stdout.splitlines() if ln.strip().startswith(f"car/{mid}:")]
        assert reason in line, (mid, line)
    manifest = json.loads((out / "manifest.json").read_text())
    skipped = manifest["skipped_meshes"]
    assert set(skipped) == {f"car/{m}" for m in reasons}
    for mid, reason in reasons.items():
        info = skipped[f"car/{mid}"]
        assert reason in info["reason"] and "\n" not in info["reason"]
        assert os.path.basename(info["path"]).startswith(mid.replace("\\xff", "\udcff"))
    assert manifest["splits"]["train"]["per_category"] == {"car": len(rendered)}
    assert manifest["splits"]["train"]["models"] == len(rendered)
    assert set(manifest["missing_textures"]["per_model"]) == {f"car/{m}" for m in DEGRADED}
    assert not [p for p in leftovers(out) if p.endswith(".tmp")]


@pytest.mark.parametrize("runner", ["local", "beam"])
def test_library_of_only_bad_meshes_fails_cleanly(libraries, capsys, tmp_path, runner):
    pytest.importorskip("apache_beam") if runner == "beam" else None
    bad = libraries[0]
    out = tmp_path / "out"
    code, _, err = cli(capsys, *RENDER, "--meshes", bad, "--out", out, "--runner", runner)
    assert_one_error_line(code, err, bad)
    assert leftovers(out) == []


def test_ten_million_triangles_are_refused_quickly(libraries):
    """Loading 10M triangles took 30 s and 5 GB before being decimated; now the header is read."""
    path = libraries[0] / "car/huge.ply"
    # Peak RSS from VmHWM, this process's own: ru_maxrss of a child also counts the forking
    # pytest's RSS (Linux keeps it across exec), which fails this check in a full run.
    probe = ("import json, sys, time\n"
             "from tfrecords_tools.mesh_io import load_file\n"
             "t = time.perf_counter()\n"
             "try:\n    load_file(sys.argv[1], model_id='m', category='car'); err = ''\n"
             "except Exception as e:\n    err = f'{type(e).__name__}: {e}'\n"
             "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
             "print(json.dumps({'s': time.perf_counter() - t, 'err': err,\n"
             "                  'rss_mb': int(hwm.split()[1]) / 1024}))\n")
    p = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True,
                       cwd=REPO, timeout=120)
    r = json.loads(p.stdout)
    assert r["err"].startswith("MeshError: too large to load: 10000000 triangles"), r
    assert r["s"] < 5 and r["rss_mb"] < 1500, r


def test_latin1_mtl_and_texture_names_keep_the_texture(libraries):
    """trimesh guesses a codec for a non-UTF-8 OBJ and then asks for an MTL that does not
    exist under that name: the texture used to vanish without a note."""
    path = os.path.join(os.fsencode(libraries[1] / "car"), b"tex\xe9.obj")
    asset = load_file(os.fsdecode(path), model_id="tex", category="car")
    assert asset.missing_textures == 0 and [p.texture is not None for p in asset.primitives] == [True]


def test_unreadable_file_is_skipped_with_its_reason(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("running as root, which reads a chmod 000 file anyway")
    path = tmp_path / "locked.obj"
    path.write_text(TETRA)
    path.chmod(0)
    with pytest.raises(MeshError, match="cannot read file: Permission denied"):
        load_file(str(path), model_id="locked", category="car")


# ------------------------------------------------------------------- configs
CONFIGS = {   # file body -> what the one error line must name (beyond the file itself)
    "renderr:\n  size: 32\n": "unknown config key 'renderr'",
    "train:\n  stages:\n    - name: a\n      epoch: 3\n": "train.stages[0].epoch",
    "train:\n  noise:\n    alpah: 1\n": "train.noise.alpah",
    "model:\n  image_size: '64'\n": "model.image_size: expected int",
    "train:\n  learning_rate: [0.1]\n": "train.learning_rate: expected float",
    "train:\n  batch_size: true\n": "train.batch_size: expected int, got True",
    "render:\n  views_per_model: 2.5\n": "render.views_per_model: expected int",
    "render:\n  size: 0\n": "render.size: 0 must be",
    "model:\n  image_size: -64\n": "model.image_size: -64 must be",
    "train:\n  batch_size: 0\n": "train.batch_size: 0 must be",
    "render:\n  views_per_model: 0\n": "render.views_per_model: 0 must be",
    "train:\n  stages:\n    - epochs: -1\n": "train.stages[0].epochs: -1 must be",
    "train:\n  learning_rate: 0\n": "train.learning_rate: 0.0 must be > 0",
    "render:\n  seed: -1\n": "render.seed: -1 must be in [0, 4294967295]",
    "train:\n  seed: 4294967296\n": "train.seed: 4294967296 must be in [0, 4294967295]",
    "train:\n  stages:\n    - learning_rate: -1.0e-3\n": "train.stages[0].learning_rate",
    "train:\n  learning_rate: .nan\n": "train.learning_rate: expected a finite number",
    "render:\n  val_fraction: .inf\n": "render.val_fraction: expected a finite number",
    "render:\n\tsize: 32\n": "line 2: not valid YAML",
    "model: {image_size: 32\n": "not valid YAML",
    "render:\n  size: 32\n  size: 64\n": "key 'size' given twice",
    "- render\n- train\n": "expected a mapping of sections at the top level, got a list",
    "": "empty config file",
    "# only a comment\n": "empty config file",
    b"render:\n  out: caf\xe9\n": "not UTF-8 text (byte 0xe9",
}


def write_config(tmp_path: Path, body) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    return path


@pytest.mark.parametrize("command", ["render", "fit"])
@pytest.mark.parametrize("body", list(CONFIGS), ids=range(len(CONFIGS)))
def test_bad_config_file(capsys, tmp_path, command, body):
    cfg = write_config(tmp_path, body)
    out = tmp_path / "out"
    flags = ["--out", out] if command == "render" else ["--workdir", out, "--data", tmp_path]
    code, _, err = cli(capsys, command, "--config", cfg, *flags)
    assert_one_error_line(code, err, cfg, CONFIGS[body])
    assert not out.exists()


@pytest.mark.parametrize("override,needle", [
    ("model.classifer=zigzagnet", "did you mean 'model.classifier'"),
    ("train.noise.alpah=1", "train.noise.alpah"),
    ("batch_size=[2]", "train.batch_size: expected int"),
    ("train.cache=maybe", "train.cache: expected bool"),
    ("size=-32", "render.size: -32 must be"),
    ("seed=-1", "seed: -1 must be in [0, 4294967295]"),
    ("learning_rate=.nan", "train.learning_rate: expected a finite number"),
    ("=3", "--set '=3': expected key=value"),
    ("views_per_model", "--set 'views_per_model': expected key=value"),
    ("train.stages.3.epochs=2", "'stages' is a list of 2; expected an index 0..1, got '3'"),
    ("train.stages.first.epochs=2", "got 'first'"),
])
@pytest.mark.parametrize("command", ["render", "fit"])
def test_bad_override(capsys, tmp_path, command, override, needle):
    out = tmp_path / "out"
    flags = ["--out", out] if command == "render" else ["--workdir", out, "--data", tmp_path]
    code, _, err = cli(capsys, command, "--config", REPO / "configs/smoke.yaml", *flags, "--set", override)
    assert_one_error_line(code, err, needle)
    assert not out.exists()


@pytest.mark.parametrize("argv,needle", [
    (["fit", "--seed", "-1"], "argument --seed: '-1': a seed is an integer from 0 to 4294967295"),
    (["render", "--seed", "2**32"], "argument --seed: '2**32'"),
    (["demo", "--seed", "x"], "argument --seed: 'x'"),
    (["adapt", "--seed", "-3"], "argument --seed: '-3'"),
    (["adapt", "--learning-rate", "-1"], "argument --learning-rate: '-1' must be > 0"),
    (["adapt", "--learning-rate", "nan"], "argument --learning-rate: 'nan' must be > 0"),
])
def test_bad_seed_or_learning_rate_flag_is_one_argparse_line(capsys, argv, needle):
    """A seed numpy and TensorFlow cannot take (they take 0 to 2**32 - 1), or a learning
    rate that is not positive: refused as the flag is read, before any work."""
    code, _, err = cli(capsys, *argv)
    assert code == 2 and "Traceback" not in err
    assert needle in err.strip().splitlines()[-1], err


def test_override_reaches_into_a_list_by_index():
    from gmcml_tf.config import FIT_SECTIONS, load_config
    cfg = load_config(REPO / "configs/gm_cml.yaml", ["train.stages.0.epochs=24", "stages.0.learning_rate=1e-3"],
                      short=FIT_SECTIONS)
    assert cfg.train.stages[0].epochs == 24 and cfg.train.stages[0].learning_rate == 1e-3
    assert cfg.train.stages[0].steps_per_epoch == 100   # the rest of the stage is kept


@pytest.mark.parametrize("case", ["config", "config_dir", "meshes", "shapenet", "backgrounds", "data"])
def test_paths_that_do_not_exist(capsys, tmp_path, case):
    nope = tmp_path / "nope"
    out = tmp_path / "out"
    smoke = REPO / "configs/smoke.yaml"
    argv, needle = {
        "config": (["fit", "--config", nope, "--workdir", out], "does not exist"),
        "config_dir": (["fit", "--config", tmp_path, "--workdir", out], "is a directory"),
        "meshes": ([*RENDER, "--meshes", f"shapenet:{nope}", "--out", out], "does not exist"),
        "shapenet": ([*RENDER, "--meshes", f"shapenet:{tmp_path}", "--out", out], "no ShapeNet synset"),
        "backgrounds": ([*RENDER, "--backgrounds", nope, "--out", out], "nope"),
        "data": (["fit", "--config", smoke, "--data", nope, "--workdir", out], "does not exist"),
    }[case]
    code, _, err = cli(capsys, *argv)
    assert_one_error_line(code, err, needle, nope if case not in ("shapenet", "config_dir") else tmp_path)
    assert not out.exists()


def test_fit_on_a_folder_that_is_not_a_render_leaves_no_workdir(capsys, tmp_path):
    (tmp_path / "data").mkdir()
    out = tmp_path / "run"
    code, _, err = cli(capsys, "fit", "--config", REPO / "configs/smoke.yaml", "--data", tmp_path / "data",
                       "--workdir", out, "--no-progress")
    assert_one_error_line(code, err, tmp_path / "data")
    assert not out.exists()


def test_evaluate_bad_run_folders(capsys, tmp_path):
    run = tmp_path / "run"
    code, _, err = cli(capsys, "evaluate", "--workdir", run, "--real", tmp_path / "photos")
    assert_one_error_line(code, err, run, "no such run folder")
    run.mkdir()     # a run whose config was edited by hand afterwards
    (run / "config.yaml").write_text("model:\n  imagesize: 32\n")
    (run / "model.keras").write_bytes(b"")
    code, _, err = cli(capsys, "evaluate", "--workdir", run, "--real", tmp_path / "photos")
    assert_one_error_line(code, err, run / "config.yaml", "model.imagesize")
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "model.keras"]


def test_a_short_key_of_several_sections_goes_to_the_commands_own_or_is_refused(capsys, tmp_path):
    from gmcml_tf.config import FIT_SECTIONS, load_config
    smoke = REPO / "configs/smoke.yaml"
    fit = load_config(smoke, ["seed=7"], short=FIT_SECTIONS)
    assert (fit.train.seed, fit.render.seed) == (7, 0)
    rendered = load_config(smoke, ["seed=7"], short=("render",))
    assert (rendered.train.seed, rendered.render.seed) == (0, 7)
    with pytest.raises(Exception, match=r"render\.seed, train\.seed"):
        load_config(smoke, ["seed=7"])
    code, _, err = cli(capsys, "bench", "input", "--config", smoke, "--set", "seed=x")
    assert_one_error_line(code, err, "train.seed")
