"""Files and folders we write atomically get the modes open()/mkdir() would give them under
the user's umask: a TF Serving container or a Beam worker running as another user can read
them when the umask allows it, and nobody can when it does not."""
import os
import stat
from pathlib import Path

import pytest

from conftest import smoke_config
from tfrecords_tools.writer import write_json_atomic


@pytest.fixture(params=[0o022, 0o077])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_json_and_png_follow_the_umask(tmp_path, umask):
    write_json_atomic(tmp_path / "history.json", {"a": 1})
    assert _mode(tmp_path / "history.json") == 0o666 & ~umask
    import matplotlib.pyplot as plt
    from gmcml_tf.evaluation.plots import _save
    _save(plt.figure(), tmp_path / "curve.png")
    assert _mode(tmp_path / "curve.png") == 0o666 & ~umask


def test_render_outputs_follow_the_umask(tmp_path, umask):
    from tfrecords_tools.runners import render
    cfg = smoke_config(out=str(tmp_path / "r"), workers=1, procedural_per_category=1,
                       views_per_model=1, val_fraction=0.0, views_per_shard=64)
    render(cfg, show_progress=False)
    files = [p for p in Path(cfg.out).rglob("*") if p.is_file()]
    assert any(p.suffix == ".tfrecord" for p in files) and any(p.name == "manifest.json" for p in files)
    assert {_mode(p) for p in files} == {0o666 & ~umask}


def test_exported_version_folder_follows_the_umask(tmp_path, umask):
    from serving_fixtures import SIZE, tiny_model
    from gmcml_tf.serving.export import export
    from tfrecords_tools.categories import CATEGORIES
    r = export(tiny_model(), tmp_path / "m", image_size=SIZE, class_names=list(CATEGORIES))
    assert _mode(r["path"]) == 0o777 & ~umask
    for p in Path(r["path"]).rglob("*"):
        assert _mode(p) & ~(0o777 & ~umask) == 0, p   # nothing more open than the umask allows
