"""The Beam runner: the local runner's shards, byte for byte, and the same resume."""
import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest

from conftest import REPO, smoke_config

pytest.importorskip("apache_beam", reason="apache-beam is not installed (pip install -e '.[beam]')")

from tfrecords_tools.beam_runner import _runner, pipeline_options, render_beam  # noqa: E402
from tfrecords_tools.configlib import ConfigError  # noqa: E402
from tfrecords_tools.stats import iter_examples  # noqa: E402


def _digests(out):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(out).glob("*.tfrecord"))}


def _counts(manifest):
    return {k: manifest[k] for k in ("splits", "shards", "skipped_meshes", "missing_textures", "triangles")}


@pytest.fixture(scope="module")
def beam_render(tmp_path_factory):
    cfg = smoke_config(out=str(tmp_path_factory.mktemp("beam") / "out"), workers=2)
    return cfg, render_beam(cfg, show_progress=False)


def test_beam_output_equals_local_output(smoke_render, beam_render):
    (local, _), (beam, beam_m) = smoke_render, beam_render
    assert _digests(beam.out) == _digests(local.out)  # same shard names, byte-identical files
    assert beam_m["_run"]["rendered_views"] == 12 * 2 * 4 and beam_m["_run"]["workers"] == 2
    on_disk = {r: json.loads((Path(c.out) / "manifest.json").read_text()) for r, c in (("l", local), ("b", beam))}
    assert _counts(on_disk["b"]) == _counts(on_disk["l"])
    for m in on_disk.values():  # the rest of the header too, but for where and how many processes
        m["config"].pop("out"), m["config"].pop("workers")
    assert on_disk["b"] == on_disk["l"]
    keys = [(e["split"], e["category"], e["model_id"], e["seed"]) for e in iter_examples(beam.out)]
    assert len(keys) == len(set(keys)) == 96


def test_beam_resume_renders_only_the_missing_shard(beam_render, tmp_path):
    cfg, _ = beam_render
    out = tmp_path / "resume"
    shutil.copytree(cfg.out, out)
    reference = _digests(out)
    victim = sorted(out.glob("train-*.tfrecord"))[1]
    victim.unlink()
    (out / f".{victim.name}.x.tmp").write_bytes(b"partial")
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("*.tfrecord")}
    m = render_beam(smoke_config(out=str(out), workers=2), show_progress=False)
    assert m["_run"]["shards_skipped_complete"] == len(reference) - 1
    assert m["_run"]["rendered_views"] == 16
    assert _digests(out) == reference
    assert {n: (out / n).stat().st_mtime_ns for n in kept} == kept  # complete shards never rewritten
    assert not list(out.glob(".*.tmp"))
    # nothing left to do: no pipeline, the manifest is rewritten the same
    again = render_beam(smoke_config(out=str(out), workers=2), show_progress=False)
    assert again["_run"]["rendered_views"] == 0 and _counts(again) == _counts(m)


def test_beam_options_and_unsafe_modes(monkeypatch):
    cfg = smoke_config(workers=3)
    o = pipeline_options(cfg, ["direct_num_workers=5", "--job_name=x"], shards=6).get_all_options()
    assert o["direct_num_workers"] == 5 and o["job_name"] == "x"
    assert o["direct_running_mode"] == "multi_processing"
    assert pipeline_options(cfg, [], shards=2).get_all_options()["direct_num_workers"] == 2
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        pipeline_options(cfg, ["=1"], shards=1)
    monkeypatch.setitem(sys.modules, "tensorflow", sys.modules.get("tensorflow", object()))
    with pytest.raises(ConfigError, match="multi_processing"):
        _runner(pipeline_options(cfg, ["direct_running_mode=in_memory"], shards=1))
    assert _runner(pipeline_options(cfg, ["runner=DataflowRunner"], shards=1)) == ("DataflowRunner", None)


def test_cli_without_apache_beam(monkeypatch, capsys, tmp_path):
    from gmcml_tf.cli import main
    monkeypatch.setitem(sys.modules, "apache_beam", None)
    monkeypatch.delitem(sys.modules, "tfrecords_tools.beam_runner", raising=False)
    rc = main(["render", "--config", str(REPO / "configs" / "smoke.yaml"), "--out", str(tmp_path / "o"),
               "--runner", "beam"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err == ["gmcml-tf: error: apache-beam is not installed: pip install -e '.[beam]'"]
