"""The render command end to end: shards, manifest, splits, determinism, resume."""
import dataclasses
import hashlib
import json
import os

import pytest

from conftest import smoke_config
from tfrecords_tools.runners import render
from tfrecords_tools.stats import iter_examples


def _digests(out):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.glob("*.tfrecord"))}


def test_shards_and_manifest(smoke_render):
    cfg, manifest = smoke_render
    out = os.path.abspath(cfg.out)
    names = sorted(p for p in os.listdir(out) if p.endswith(".tfrecord"))
    assert names == manifest["shards"]
    for n in names:
        split, i, _, count = n[:-len(".tfrecord")].split("-")
        assert split in ("train", "val") and int(i) < int(count)
    on_disk = json.loads(open(os.path.join(out, "manifest.json")).read())
    assert on_disk["seed"] == 0 and on_disk["config"]["size"] == 64
    total = sum(s["records"] for s in on_disk["splits"].values())
    assert total == 12 * 2 * 4  # 12 categories x 2 models x 4 views
    assert on_disk["splits"]["train"]["per_category"]["car"] == 4
    assert "numpy" in on_disk["versions"]


def test_split_by_model(smoke_render):
    cfg, _ = smoke_render
    by_split = {}
    for e in iter_examples(cfg.out):
        by_split.setdefault(e["split"], set()).add((e["category"], e["model_id"]))
    assert by_split[b"train"] and by_split[b"val"]
    assert not by_split[b"train"] & by_split[b"val"]


def test_same_seed_same_bytes_for_any_worker_count(smoke_render, tmp_path):
    cfg, _ = smoke_render
    two = smoke_config(out=str(tmp_path / "w2"), workers=2)
    render(two, show_progress=False)
    assert _digests(tmp_path / "w2") == _digests(type(tmp_path)(cfg.out))
    other = smoke_config(out=str(tmp_path / "s1"), workers=1, seed=1, procedural_per_category=1,
                         views_per_model=1, val_fraction=0.0)
    render(other, show_progress=False)
    seeds = {e["seed"] for e in iter_examples(other.out)}
    assert not seeds & {e["seed"] for e in iter_examples(cfg.out)}


def test_resume_finishes_missing_shards_and_keeps_complete_ones(smoke_render, tmp_path):
    cfg, _ = smoke_render
    out = tmp_path / "resume"
    small = smoke_config(out=str(out), workers=1)
    render(small, show_progress=False)
    reference = _digests(out)
    victim = sorted(out.glob("train-*.tfrecord"))[1]
    victim.unlink()                                     # as if killed before this shard was renamed
    (out / f".{victim.name}.x.tmp").write_bytes(b"partial")  # and its half-written temporary
    kept = sorted(out.glob("*.tfrecord"))[0]
    mtime = kept.stat().st_mtime_ns
    manifest = render(small, show_progress=False)
    assert manifest["_run"]["shards_skipped_complete"] == len(reference) - 1
    assert _digests(out) == reference
    assert kept.stat().st_mtime_ns == mtime             # complete shards are never rewritten
    assert not list(out.glob(".*.tmp"))


def test_refuses_to_mix_renders_in_one_folder(smoke_render):
    from tfrecords_tools.configlib import ConfigError
    cfg, _ = smoke_render
    with pytest.raises(ConfigError, match="differs in: size"):
        render(dataclasses.replace(cfg, size=32), show_progress=False)
