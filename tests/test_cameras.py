"""Cameras: icosphere counts, the z-cut, jitter ranges, the close-shot formula (docs/method.md §1)."""
import numpy as np
import pytest

from tfrecords_tools import cameras


@pytest.mark.parametrize("subdivisions,count", [(1, 42), (2, 162)])
def test_icosphere_vertex_counts(subdivisions, count):
    assert len(cameras.viewpoints(subdivisions, -1.0, 1.01)) == count


def test_z_cut_and_unit_length():
    v = cameras.viewpoints(2, -0.3, 0.6)
    assert 0 < len(v) < 162
    assert (v[:, 2] >= -0.3).all() and (v[:, 2] < 0.6).all()
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-9)


def test_camera_on_jittered_sphere_looking_at_focal_point():
    rng = np.random.default_rng(0)
    dirs = cameras.viewpoints(2, -0.3, 0.6)
    for i, d in enumerate(dirs):
        cam = cameras.make_camera(d, i, rng, distance=(2.2, 3.0), focal_jitter=0.12, fov_deg=52)
        assert 2.2 <= cam.distance <= 3.0
        assert np.abs(cam.focal).max() <= 0.12
        np.testing.assert_allclose(np.linalg.norm(cam.position - cam.focal), cam.distance)
        np.testing.assert_allclose(cam.target, cam.focal)
        # the focal point projects to the image centre
        p = cam.projection_matrix() @ cam.view_matrix() @ np.append(cam.target, 1.0)
        np.testing.assert_allclose(p[:2] / p[3], 0.0, atol=1e-9)
    distances = [cameras.make_camera(dirs[0], 0, rng, distance=(2.2, 3.0), focal_jitter=0.0,
                                     fov_deg=52).distance for _ in range(50)]
    assert len({round(x, 3) for x in distances}) > 40  # continuous, not the authors' 2 or 3


def test_close_shot_moves_focal_point_by_formula():
    rng = np.random.default_rng(1)
    d = np.array([0.0, 1.0, 0.0])
    cam = cameras.make_camera(d, 3, rng, distance=(2.2, 3.0), focal_jitter=0.1, fov_deg=52,
                              close=True, close_distance=(1.6, 2.2), close_offset=0.2)
    assert cam.mode == "close" and 1.6 <= cam.distance <= 2.2
    p_axis = cam.focal + cam.distance * cameras.FRONT
    np.testing.assert_allclose(cam.target, cam.focal + 0.2 * (cam.position - p_axis))
