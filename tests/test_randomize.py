"""Domain randomisation at render time: real renders, compared view by view with the plain ones.

Each randomisation kind is rendered alone against the same config without it, so a pixel
fact that breaks names the kind that broke it.
"""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import smoke_config
from tfrecords_tools.configlib import ConfigError
from tfrecords_tools.render_config import RandomizeConfig
from tfrecords_tools.runners import render
from tfrecords_tools.stats import decode_png, iter_examples


def _render(tmp_path, name, **randomize):
    cfg = smoke_config(out=str(tmp_path / name), workers=1, randomize=RandomizeConfig(**randomize))
    manifest = render(cfg, show_progress=False)
    return {e["seed"]: e for e in iter_examples(cfg.out)}, manifest


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return _render(tmp_path_factory.mktemp("plain"), "plain")[0]


def _px(e, key):
    return decode_png(e[key])


def test_texture_and_light_randomisation_change_colour_only(plain, tmp_path):
    views, manifest = _render(tmp_path, "dressed", texture_fraction=0.5, light_fraction=0.5)
    assert views.keys() == plain.keys()
    textured = relit = 0
    changes = []
    for seed, e in views.items():
        p = plain[seed]
        for key in ("alpha/encoded", "mask/encoded", "depth/encoded"):  # the targets stay exact
            assert (_px(e, key) == _px(p, key)).all(), key
        obj = _px(e, "alpha/encoded") > 0
        changed = np.abs(_px(e, "image/encoded").astype(int) - _px(p, "image/encoded")).max(axis=2) > 2
        assert not changed[~obj].any()   # the background is the same crop
        if e["randomize/textured_materials"] or e["light/count"] > 1 or e["light/specular"] > 0:
            changes.append(changed[obj].mean())  # small parts or a faint tint change little
        else:
            assert (_px(e, "image/encoded") == _px(p, "image/encoded")).all()
        textured += e["randomize/textured_materials"] > 0
        relit += e["light/count"] > 1
        assert len(e["light/color"]) == 9 and e["light/count"] in (1, 2, 3)
        assert e["randomize/occluders"] == 0 and e["randomize/truncated"] == 0
    assert 0.25 < textured / len(views) < 0.75 and relit > 0
    assert np.median(changes) > 0.2 and np.mean(np.array(changes) > 0) > 0.8
    assert manifest["randomized"]["textured"] == textured and manifest["randomized"]["views"] == len(views)


def test_occluders_hide_the_object_only_where_they_cover_it(plain, tmp_path):
    views, _ = _render(tmp_path, "occluded", occluder_fraction=0.6)
    hidden = 0
    for seed, e in views.items():
        p = plain[seed]
        a, a0 = _px(e, "alpha/encoded") > 0, _px(p, "alpha/encoded") > 0
        assert not (a & ~a0).any()                          # never more object than without
        assert (a == (_px(e, "mask/encoded").max(axis=2) > 0)).all()
        assert (a == (_px(e, "depth/encoded") > 0)).all()
        assert (_px(e, "mask/encoded")[a] == _px(p, "mask/encoded")[a]).all()
        assert (_px(e, "depth/encoded")[a] == _px(p, "depth/encoded")[a]).all()
        diff = np.abs(_px(e, "image/encoded").astype(int) - _px(p, "image/encoded")).max(axis=2)
        assert diff[a].max(initial=0) <= 1                  # the visible object is lit as before
        if e["randomize/occluders"] == 0:
            assert (a == a0).all() and diff.max() == 0
        hidden += int((a0 & ~a).any())
        changed_outside = (diff > 0) & ~a0
        if e["randomize/occluders"]:
            assert changed_outside.any() or (a0 & ~a).any(), seed  # an occluder shows somewhere
    assert hidden >= 5


def test_truncated_framing_runs_the_object_off_the_border(tmp_path):
    views, _ = _render(tmp_path, "truncated", truncate_fraction=0.5, truncate_shift=(0.9, 1.2))
    border = {True: [], False: []}
    for e in views.values():
        a = _px(e, "alpha/encoded") > 0
        truncated = bool(e["randomize/truncated"])
        assert (e["camera/mode"] == b"truncated") == truncated
        border[truncated].append(bool(a[0].any() or a[-1].any() or a[:, 0].any() or a[:, -1].any()))
    assert border[True] and border[False]
    assert np.mean(border[True]) > np.mean(border[False]) + 0.3


def test_randomised_renders_are_reproducible_for_any_worker_count(tmp_path):
    def digests(out):
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(out).glob("*.tfrecord"))}
    r = RandomizeConfig(texture_fraction=0.5, light_fraction=0.5, occluder_fraction=0.5, truncate_fraction=0.3)
    one = smoke_config(out=str(tmp_path / "one"), workers=1, randomize=r)
    two = smoke_config(out=str(tmp_path / "two"), workers=2, randomize=r)
    render(one, show_progress=False)
    render(two, show_progress=False)
    assert digests(one.out) == digests(two.out)
    stamp = json.loads((Path(one.out) / "render_config.json").read_text())
    assert stamp["randomize"]["occluder_fraction"] == 0.5


def test_plain_renders_keep_their_stamp_and_bytes_without_a_randomize_key(tmp_path):
    cfg = smoke_config(out=str(tmp_path / "p"), workers=1)
    render(cfg, show_progress=False)
    assert "randomize" not in json.loads((Path(cfg.out) / "render_config.json").read_text())
    e = next(iter_examples(cfg.out))
    assert "light/count" not in e and "randomize/occluders" not in e


@pytest.mark.parametrize("key,value", [("texture_fraction", 1.5), ("max_lights", 4),
                                       ("specular", (0.5, 0.1)), ("truncate_fraction", -0.1)])
def test_bad_randomize_settings_name_the_key(key, value):
    with pytest.raises(ConfigError, match=f"render.randomize.{key}"):
        RandomizeConfig(**{key: value}).validate("render.randomize")
