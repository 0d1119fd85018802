"""Bad and odd image files, generated here, through every path that decodes photos.

(a) `gmcml-tf predict FILE --model DIR` in-process: exit 2 and one `gmcml-tf: error:` line
    naming the file, nothing on stdout, no traceback;
(b) HTTP :predict on a real server: a 4xx with TF Serving's {"error": ...}, and the
    server still answers a good request afterwards;
(c) `gmcml-tf evaluate` on a folder that mixes them with good photos: the bad ones are
    skipped and listed with a reason, the evaluation finishes.

Valid-but-odd files (1x1, CMYK, 16-bit grey and RGB, BMP, WebP, an animated GIF) get an
answer: an animated GIF is classified on its FIRST frame (TF Serving's decode_image with
expand_animations=False does the same). A header that declares 20000 x 20000 (a tiny
file: a decompression bomb) is refused from the header, before any pixel is allocated.
"""
from __future__ import annotations

import base64
import io
import json
import resource
import struct
import zlib

import httpx
import numpy as np
import pytest
from PIL import Image

from gmcml_tf.preprocess import MAX_PIXELS, decode_image
from gmcml_tf.serving import rest
from gmcml_tf.serving.app import create_app
from gmcml_tf.serving.repository import ModelRepository
from serving_fixtures import SIZE, png_bytes, running_server, tiny_model
from tfrecords_tools.categories import CATEGORIES


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _noise(w=48, h=40, seed=0, mode="RGB") -> Image.Image:
    arr = (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)
    return Image.fromarray(arr).convert(mode)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16_rgb(w=24, h=16) -> bytes:
    """A 48-bit RGB PNG, written by hand (PIL cannot write one)."""
    arr = (np.random.default_rng(1).random((h, w, 3)) * 65535).astype(">u2")
    raw = b"".join(b"\0" + row.tobytes() for row in arr)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(raw)) + _png_chunk(b"IEND", b""))


def png_declaring(w: int, h: int) -> bytes:
    """A small PNG whose IHDR (CRC fixed up) declares w x h: a decompression bomb's header."""
    data = bytearray(_encode(_noise(), "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", w, h)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def jpeg_declaring(w: int, h: int) -> bytes:
    """A small baseline JPEG whose SOF0 segment declares w x h."""
    data = bytearray(_encode(_noise(), "JPEG"))
    i = 2
    while data[i + 1] not in (0xC0, 0xC1, 0xC2):
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    data[i + 5:i + 9] = struct.pack(">HH", h, w)
    return bytes(data)


def gif_declaring(w: int, h: int) -> bytes:
    data = bytearray(_encode(_noise(mode="P"), "GIF"))
    data[6:10] = struct.pack("<HH", w, h)
    return bytes(data)


def frames_bomb_gif(frames: int = 20, side: int = 2000) -> bytes:
    """A small GIF of 20 frames of 2000² (80 M pixels in all, ~100 KB): each frame is within
    the limit, but TensorFlow's GIF decoder unpacks every frame to return the first."""
    ims = [Image.new("P", (side, side), i % 2) for i in range(frames)]
    for im in ims:
        im.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    return _encode(ims[0], "GIF", save_all=True, append_images=ims[1:], duration=10, optimize=False)


def animated_gif() -> tuple[bytes, bytes]:
    """(3-frame animated GIF, its first frame alone as a GIF)."""
    frames = [_noise(seed=s, mode="P") for s in (3, 4, 5)]
    anim = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    return anim, _encode(frames[0], "GIF")


def _truncated(data: bytes, keep: float = 0.6) -> bytes:
    return data[: int(len(data) * keep)]


# Odd but valid: an answer, not an error.
ODD = {
    "one_pixel.png": lambda: _encode(Image.new("RGB", (1, 1), (200, 30, 30)), "PNG"),
    "one_pixel.jpg": lambda: _encode(Image.new("RGB", (1, 1), (200, 30, 30)), "JPEG"),
    "cmyk.jpg": lambda: _encode(_noise(mode="CMYK"), "JPEG"),
    "grey16.png": lambda: _encode(Image.fromarray((np.arange(24 * 16).reshape(16, 24) * 150).astype(np.uint16)), "PNG"),
    "rgb16.png": png16_rgb,
    "animated.gif": lambda: animated_gif()[0],
    "image.bmp": lambda: _encode(_noise(), "BMP"),
    "image.webp": lambda: _encode(_noise(), "WEBP"),
    "rgba.webp": lambda: _encode(_noise(mode="RGBA"), "WEBP", lossless=True),
}
# Bad: refused with a message containing the needle.
BAD = {
    "truncated.jpg": (lambda: _truncated(_encode(_noise(96, 80), "JPEG")), "truncated"),
    "truncated.png": (lambda: _truncated(_encode(_noise(96, 80), "PNG")), "truncated"),
    "bomb.png": (lambda: png_declaring(20000, 20000), "limit"),
    "bomb.jpg": (lambda: jpeg_declaring(20000, 20000), "limit"),
    "bomb.gif": (lambda: gif_declaring(20000, 20000), "limit"),
    "text.jpg": (lambda: b"this is a text file, not a JPEG\n", "not a JPEG, PNG, GIF, BMP or WebP image"),
    "empty.png": (lambda: b"", "not a JPEG, PNG, GIF, BMP or WebP image"),
    "image.tiff": (lambda: _encode(_noise(), "TIFF"), "TIFF cannot be decoded"),
}


def test_bomb_headers_are_tiny_and_declare_20000_squared(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)   # PIL's own guard off, to read the size
    for name in ("bomb.png", "bomb.jpg", "bomb.gif"):
        data = BAD[name][0]()
        assert len(data) < 8000
        with Image.open(io.BytesIO(data)) as im:  # the header only
            assert im.size == (20000, 20000)


def test_the_shared_decoder_refuses_a_bomb_before_allocating():
    """gmcml_tf.preprocess.decode_image (evaluation and the SavedModel) reads the header
    first: 20000² and 9000² (9000² is under PIL's own bomb limit) fail in milliseconds with
    the declared size in the message, and the process's peak memory stays put."""
    import tensorflow as tf
    decode_image(tf.constant(png_bytes()))   # warm up TF before measuring
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for data in (png_declaring(20000, 20000), jpeg_declaring(20000, 20000), gif_declaring(20000, 20000),
                 png_declaring(9000, 9000), jpeg_declaring(9000, 9000)):
        with pytest.raises(tf.errors.InvalidArgumentError, match=f"over the limit of {MAX_PIXELS}"):
            decode_image(tf.constant(data))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200, f"peak RSS grew {grown_mb:.0f} MB decoding bomb headers"
    with pytest.raises(tf.errors.InvalidArgumentError, match="not a JPEG, PNG, GIF, BMP or WebP"):
        decode_image(tf.constant(b"plain text"))


@pytest.mark.parametrize("fmt,kw,mode", [("PNG", {}, "RGB"), ("JPEG", {}, "RGB"), ("GIF", {}, "P"),
                                         ("BMP", {}, "RGB"), ("WEBP", {}, "RGB"),
                                         ("WEBP", {"lossless": True}, "RGB"), ("WEBP", {}, "RGBA")])
def test_the_in_graph_guard_reads_each_formats_size_exactly(fmt, kw, mode):
    """The limit is exact for every format the decoder takes (WebP: lossy VP8, lossless
    VP8L and extended VP8X headers): w*h pixels pass at max_pixels=w*h, fail at w*h-1."""
    import tensorflow as tf
    data = tf.constant(_encode(_noise(37, 23, mode=mode), fmt, **kw))
    assert decode_image(data, max_pixels=37 * 23).shape == (23, 37, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="image declares 851 pixels"):
        decode_image(data, max_pixels=37 * 23 - 1)


def test_odd_images_decode_to_sane_rgb():
    import tensorflow as tf
    for name, make in ODD.items():
        x = decode_image(tf.constant(make())).numpy()
        assert x.ndim == 3 and x.shape[-1] == 3 and 0 <= x.min() and x.max() <= 1, name
    rgb16 = decode_image(tf.constant(png16_rgb())).numpy()
    want = (np.random.default_rng(1).random((16, 24, 3)) * 65535).astype(np.uint16) / 65535
    np.testing.assert_allclose(rgb16, want, atol=1e-4)        # 16 bits kept, not truncated to 8
    anim, first = animated_gif()
    np.testing.assert_array_equal(decode_image(tf.constant(anim)).numpy(),
                                  decode_image(tf.constant(first)).numpy())


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from gmcml_tf.serving.export import export
    base = tmp_path_factory.mktemp("saved_models") / "gmcml"
    export(tiny_model(), base, image_size=SIZE, class_names=list(CATEGORIES))
    return base


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    out = {}
    for name, make in ODD.items():
        out[name] = d / name
        out[name].write_bytes(make())
    for name, (make, _) in BAD.items():
        out[name] = d / name
        out[name].write_bytes(make())
    for name, data in (("first_frame.gif", animated_gif()[1]), ("frames_bomb.gif", frames_bomb_gif())):
        out[name] = d / name
        out[name].write_bytes(data)
    return out


# (a) gmcml-tf predict, in-process ------------------------------------------------------

@pytest.mark.parametrize("name", sorted(BAD))
def test_predict_cli_refuses_a_bad_file_in_one_line(name, files, exported, capsys):
    from gmcml_tf.cli import main
    capsys.readouterr()
    assert main(["predict", str(files[name]), "--model", str(exported)]) == 2
    out, err = capsys.readouterr()
    assert out == ""                                   # no partial answer
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("gmcml-tf: error: ") and name in err and BAD[name][1] in err, err


def test_predict_cli_answers_odd_images_and_a_gif_by_its_first_frame(files, exported, capsys):
    from gmcml_tf.cli import main
    names = sorted(ODD) + ["first_frame.gif"]
    capsys.readouterr()
    assert main(["predict", *(str(files[n]) for n in names), "--model", str(exported),
                 "--json", "--top-k", "12"]) == 0
    out = {r["image"]: r["top_k"] for r in json.loads(capsys.readouterr().out)}
    assert len(out) == len(names)
    for top in out.values():
        assert top[0]["class"] in CATEGORIES and sum(t["probability"] for t in top) == pytest.approx(1, abs=1e-4)
    anim = {t["class"]: t["probability"] for t in out[str(files["animated.gif"])]}
    first = {t["class"]: t["probability"] for t in out[str(files["first_frame.gif"])]}
    assert anim == pytest.approx(first, abs=1e-6)


def test_predict_cli_and_http_refuse_a_gif_whose_frames_add_up_over_the_limit(files, exported, server, capsys):
    from gmcml_tf.cli import main
    data = files["frames_bomb.gif"].read_bytes()
    assert len(data) < 300_000
    capsys.readouterr()
    assert main(["predict", str(files["frames_bomb.gif"]), "--model", str(exported)]) == 2
    err = capsys.readouterr().err
    assert "animated GIF of 20 frames, 80000000 pixels in all" in err and "Traceback" not in err, err
    r = _post(server, data)
    assert r.status_code == 400 and "animated GIF of 20 frames" in r.json()["error"]


def test_predict_cli_missing_file_and_folder(files, exported, capsys, tmp_path):
    from gmcml_tf.cli import main
    for path, needle in ((tmp_path / "missing.jpg", "no such file"), (tmp_path, "cannot read")):
        capsys.readouterr()
        assert main(["predict", str(path), "--model", str(exported)]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and needle in err and len(err.strip().splitlines()) == 1, err


# (b) HTTP predict on a real server -----------------------------------------------------

@pytest.fixture(scope="module")
def server(exported):
    with running_server(create_app(ModelRepository(exported), rest.Limits())) as url:
        yield url


def _post(url: str, data: bytes, model: str = "gmcml") -> httpx.Response:
    return httpx.post(f"{url}/v1/models/{model}:predict", timeout=60,
                      json={"instances": [{"b64": base64.b64encode(data).decode()}]})


@pytest.mark.parametrize("name", sorted(BAD))
def test_http_refuses_a_bad_image_with_4xx_and_keeps_serving(name, files, server):
    r = _post(server, files[name].read_bytes())
    assert 400 <= r.status_code < 500, r.text
    error = r.json()["error"]
    assert error.startswith("instances") and "Traceback" not in error, error
    if name.startswith(("bomb", "text", "empty", "image")):  # refused from the header: exact reason
        assert BAD[name][1] in error, error
    else:  # truncated: the decoder's own words, without TF's node names
        assert "Invalid" in error and "node" not in error and "Graph execution" not in error, error
    assert _post(server, png_bytes()).status_code == 200


def test_http_answers_odd_images(files, server):
    for name in ODD:
        r = _post(server, files[name].read_bytes())
        assert r.status_code == 200, (name, r.text)
        assert len(r.json()["predictions"][0]["probabilities"]) == len(CATEGORIES)


def test_the_models_own_guard_holds_when_the_server_limit_is_raised(exported):
    """--max-pixels above the SavedModel's 8192²: a 9000² header passes the server's
    check and is refused by the graph itself (as it would be under TF Serving)."""
    with running_server(create_app(ModelRepository(exported), rest.Limits(max_pixels=10 ** 8))) as url:
        r = _post(url, png_declaring(9000, 9000))
        assert r.status_code == 400
        assert r.json()["error"] == f"instances: image declares 81000000 pixels, over the limit of {MAX_PIXELS}"
        assert _post(url, png_bytes()).status_code == 200


# (c) gmcml-tf evaluate on a folder mixing bad files with good photos ---------------------



def test_evaluate_skips_and_lists_bad_files_and_finishes(smoke_run, files, tmp_path, capsys):
    from gmcml_tf.cli import main
    photos = tmp_path / "photos"
    rng = np.random.default_rng(0)
    (photos / "car").mkdir(parents=True)
    (photos / "chair").mkdir()
    for i in range(3):
        for cat in ("car", "chair"):
            Image.fromarray((rng.random((40 + i, 50, 3)) * 255).astype(np.uint8)).save(photos / cat / f"{i}.jpg")
    for name in list(ODD) + list(BAD):
        (photos / "car" / f"x_{name}").write_bytes(files[name].read_bytes())
    out = tmp_path / "eval" / "real.json"
    capsys.readouterr()
    assert main(["evaluate", "--workdir", str(smoke_run), "--real", str(photos), "--json", str(out)]) == 0
    stdout = capsys.readouterr().out
    r = json.loads(out.read_text())
    # every odd-but-valid file is evaluated; TIFF has a .tiff suffix the folder source
    # accepts, and is skipped as a format TensorFlow cannot decode.
    assert r["n"] == 6 + len(ODD)
    assert sorted(r["skipped"]) == sorted(str(photos / "car" / f"x_{n}") for n in BAD)
    for name, (_, needle) in BAD.items():
        why = r["skipped"][str(photos / "car" / f"x_{name}")]
        assert why.startswith("undecodable image"), why
        if not name.startswith("truncated"):
            assert needle in why, why
    assert f"skipped {len(BAD)} unreadable photos" in stdout


def test_evaluate_on_only_bad_files_is_one_error_line(smoke_run, files, tmp_path, capsys):
    from gmcml_tf.cli import main
    (tmp_path / "photos" / "car").mkdir(parents=True)
    for name in ("bomb.png", "text.jpg"):
        (tmp_path / "photos" / "car" / name).write_bytes(files[name].read_bytes())
    out = tmp_path / "eval" / "real.json"
    capsys.readouterr()
    assert main(["evaluate", "--workdir", str(smoke_run), "--real", str(tmp_path / "photos"),
                 "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert "none of the 2 photos could be decoded" in err and "Traceback" not in err
    assert not out.exists() and not out.parent.exists()      # no partial output
