"""The embedded procedural generator: API contract, determinism, orientation, winding."""
from __future__ import annotations

import functools

import numpy as np
import pytest

from tfrecords_tools.asset import validate
from tfrecords_tools.categories import CATEGORIES
from tfrecords_tools.procedural import generate, parts
from tfrecords_tools.procedural import trains, tvmonitor, vehicles
from tfrecords_tools.procedural.textures import palette


@functools.lru_cache(maxsize=None)
def model(cat, index=0, seed=0):
    return generate(cat, index, seed)


def _all_points(asset):
    return np.concatenate([p.positions for p in asset.primitives]).astype(np.float64)


def _face_geometry(p):
    v = p.positions.astype(np.float64)
    a, b, c = (v[p.faces[:, k]] for k in range(3))
    fn = np.cross(b - a, c - a)       # length = 2 * area
    return fn, (a + b + c) / 3


def _slot(builder, cat, slot, index=0, seed=0):
    """One palette slot's meshes straight from a family builder (same seeding as generate)."""
    rng = np.random.default_rng([seed, CATEGORIES.index(cat), index])
    palette(rng)
    m = parts.Model()
    builder(rng, m)
    return parts.merge(m.parts[slot]), m


# ------------------------------------------------------------------ contract
@pytest.mark.parametrize("cat", CATEGORIES)
def test_contract(cat):
    a = model(cat)
    validate(a)
    assert a.model_id == f"proc_{cat}_0000" and a.category == cat and a.source == "procedural:0"
    pts = _all_points(a)
    assert abs(np.linalg.norm(pts, axis=1).max() - 1.0) < 1e-4
    np.testing.assert_allclose((pts.min(0) + pts.max(0)) / 2, 0.0, atol=1e-5)
    assert 500 <= a.triangles <= 40000
    textured = 0
    for p in a.primitives:
        assert p.positions.dtype == np.float32 and p.positions.shape[1] == 3
        assert p.faces.dtype == np.uint32 and p.faces.shape[1] == 3
        assert p.normals.dtype == np.float32 and p.normals.shape == p.positions.shape
        np.testing.assert_allclose(np.linalg.norm(p.normals, axis=1), 1.0, atol=1e-4)
        assert len(p.color) == 4 and all(0.0 <= c <= 1.0 for c in p.color)
        if p.uv is not None:
            assert p.uv.dtype == np.float32 and p.uv.shape == (len(p.positions), 2)
            assert p.uv.min() >= 0.0 and p.uv.max() <= 1.0
        if p.texture is not None:
            assert p.uv is not None
            assert p.texture.dtype == np.uint8 and p.texture.ndim == 3 and p.texture.shape[2] == 3
            assert 64 <= p.texture.shape[0] <= 256 and 64 <= p.texture.shape[1] <= 256
            textured += 1
    assert textured >= 1


def test_unknown_category_and_bad_numbers():
    with pytest.raises(ValueError, match="lorry"):
        generate("lorry", 0, 0)
    with pytest.raises(ValueError, match="Car"):
        generate("Car", 0, 0)
    with pytest.raises(ValueError, match=">= 0"):
        generate("car", -1, 0)


@pytest.mark.parametrize("cat", CATEGORIES)
def test_materials_come_from_the_shared_palette(cat):
    """Textures are the first draws of the shared palette, so they cannot depend on the category."""
    pal = palette(np.random.default_rng([0, CATEGORIES.index(cat), 0]))
    textures = [p.texture for p in model(cat).primitives if p.texture is not None]
    assert any(np.array_equal(t, pal.primary.texture) for t in textures)
    allowed = [pal.primary.texture, pal.secondary.texture]
    assert all(any(np.array_equal(t, a) for a in allowed) for t in textures)


# ------------------------------------------------------------------ determinism
@pytest.mark.parametrize("cat", CATEGORIES)
def test_deterministic(cat):
    a, b = model(cat), generate(cat, 0, 0)
    assert len(a.primitives) == len(b.primitives)
    for p, q in zip(a.primitives, b.primitives):
        for name in ("positions", "faces", "normals", "uv", "texture"):
            x, y = getattr(p, name), getattr(q, name)
            assert (x is None) == (y is None)
            if x is not None:
                assert x.dtype == y.dtype and np.array_equal(x, y), name
        assert p.color == q.color


@pytest.mark.parametrize("cat", CATEGORIES)
def test_instances_differ(cat):
    a, b, c = model(cat, 0), model(cat, 1), model(cat, 0, 1)
    for other in (b, c):
        pa, po = _all_points(a), _all_points(other)
        assert pa.shape != po.shape or not np.allclose(pa, po)


# ------------------------------------------------------------------ orientation
@pytest.mark.parametrize("cat", CATEGORIES)
def test_rests_on_its_lowest_points(cat):
    """The contact set (vertices at z-min) surrounds the bbox centre in x and y, so it can stand."""
    for index in range(3):
        pts = _all_points(model(cat, index))
        low = pts[pts[:, 2] < pts[:, 2].min() + 0.01]
        assert low[:, 0].min() < 0.02 and low[:, 0].max() > -0.02, (cat, index)
        assert low[:, 1].min() < 0.06 and low[:, 1].max() > -0.06, (cat, index)


@pytest.mark.parametrize("cat", ["car", "bus", "train", "bicycle", "motorbike", "boat"])
def test_long_axis_is_x(cat):
    for index in range(3):
        ext = np.ptp(_all_points(model(cat, index)), axis=0)
        assert ext[0] > ext[1], (cat, index, ext)


def test_car_and_bus_lamps_front_and_back():
    for builder, cat in ((vehicles.car, "car"), (vehicles.bus, "bus")):
        for index in range(3):
            head, m = _slot(builder, cat, "light", index)
            tail = parts.merge(m.parts["signal"])
            assert head.v[:, 0].mean() > 0 > tail.v[:, 0].mean(), (cat, index)


def test_aeroplane_nose_is_plus_x():
    for index in range(4):
        pts = _all_points(model("aeroplane", index))
        front = pts[pts[:, 0] > pts[:, 0].max() - 0.02]
        assert np.abs(front[:, 1]).max() < 0.1, index     # the nose tip, not a wing tip
        assert np.ptp(pts[:, 1]) > np.ptp(pts[:, 2])      # wings span Y, fin is shorter


def test_tvmonitor_screen_faces_plus_x():
    for index in range(6):
        screen, _ = _slot(tvmonitor.tvmonitor, "tvmonitor", "glass", index)
        fn = parts.face_normals(screen.v, screen.f).sum(0)
        assert fn[0] / np.linalg.norm(fn) > 0.95, index


@pytest.mark.parametrize("cat", ["chair", "sofa"])
def test_backrest_is_behind(cat):
    for index in range(4):
        pts = _all_points(model(cat, index))
        top = pts[pts[:, 2] > pts[:, 2].max() - 0.15]
        assert top[:, 0].mean() < 0, (cat, index)


def test_train_stands_on_track():
    for index in range(3):
        rails, _ = _slot(trains.train, "train", "metal", index)
        assert rails.v[:, 2].min() < trains.RAIL


# ------------------------------------------------------------------ winding
def _closed_parts():
    yield "box", parts.box((1, 2, 3), (1, 0, 0))
    yield "hexa", parts.hexa([[0, 0, 0], [2, 0, 0], [2, 1, 0], [0, 1, 0],
                              [0.5, 0.2, 1], [1.5, 0.2, 1], [1.5, 0.8, 1], [0.5, 0.8, 1]])
    yield "lathe", parts.lathe([0, 1, 1, 0.5, 0], [0, 0, 1, 2, 2.5], 16)
    yield "tube", parts.tube((0, 0, 0), (1, 2, 3), 0.3, 0.1)
    yield "sphere", parts.sphere(1.0, (0, 1, 0))
    yield "superquadric", parts.superquadric((1, 0.5, 0.3), 0.3, 0.3)
    yield "torus", parts.torus(1.0, 0.2)
    yield "sweep", parts.sweep(parts.arc((0, 0, 0), 1.0, 0, 3, 10), 0.1)
    yield "extrude", parts.extrude([[0, 0], [2, 0], [2, 1], [1, 0.4], [0, 1]], 0.3)
    yield "mirrored", parts.tube((0, 1, 0), (1, 2, 0), 0.2).moved(m=parts.MIRROR_Y)
    t, h = parts.wheel(0.3, 0.2)
    yield "tyre", t
    yield "hub", h


@pytest.mark.parametrize("name,mesh", list(_closed_parts()), ids=[n for n, _ in _closed_parts()])
def test_parts_wound_outward(name, mesh):
    assert parts.signed_volume(mesh) > 0, name
    fn = parts.face_normals(mesh.v, mesh.f)
    area = np.linalg.norm(fn, axis=1)
    vn = parts.unit(mesh.n[mesh.f].mean(1))
    agree = np.einsum("ij,ij->i", parts.unit(fn), vn)     # shading normals agree with winding
    assert np.average(agree, weights=area) > 0.9, name
    assert mesh.uv.min() >= 0 and mesh.uv.max() <= 1


@pytest.mark.parametrize("cat", CATEGORIES)
def test_models_wound_outward(cat):
    a = model(cat)
    for p in a.primitives:
        fn, fc = _face_geometry(p)
        area = np.linalg.norm(fn, axis=1)
        keep = area > 1e-12
        fn, fc, area = fn[keep], fc[keep], area[keep]
        centre = (fc * area[:, None]).sum(0) / area.sum()
        score = np.einsum("ij,ij->i", fn, fc - centre).mean()
        assert score > -1e-9, (cat, p.color)
        vn = p.normals[p.faces[keep]].mean(1)
        agree = np.einsum("ij,ij->i", fn / area[:, None], vn / np.linalg.norm(vn, axis=1, keepdims=True))
        assert np.average(agree, weights=area) > 0.8, (cat, p.color)
    fn, fc = _face_geometry(a.primitives[0])    # the main body is a set of closed solids
    assert np.einsum("ij,ij->i", fn, fc - fc.mean(0)).mean() > 0
