"""Fitting a photo of any size and mode to the square network input, in TensorFlow ops.

One function serves evaluation, `gmcml-tf predict` and the exported SavedModel, so a
photo is prepared the same way everywhere. Renders are square already and pass
through every mode unchanged (up to the resize).

Modes (`fit`): `stretch` resizes the whole photo to S x S (aspect ratio lost);
`pad` letterboxes it — scales the long side to S and pads with black, the colour of
the background in the renders without background; `pad_edge` letterboxes it the same
way but fills the bars by repeating the photo's border rows or columns, so the shape
is kept without black bands that no training view has; `crop` scales the short side
to S and keeps the centre square. Modes joined by `+` (`stretch+crop`) give one view per
mode, stacked on a views axis before the square's: gmcml_tf.inference.predict averages
their scores (stretch keeps the whole object but squeezes a wide one; crop keeps its
shape but may cut its ends).

Untrusted bytes: `decode_image` reads the declared size from the header and refuses
more than MAX_PIXELS (or a format it cannot decode) BEFORE decoding, inside the graph,
so TF Serving gets the guard too. `image_header` is its Python twin for the server and
the CLI, which also count every frame of an animated GIF (TensorFlow's GIF decoder
unpacks them all, even when only the first is returned).
"""
from __future__ import annotations

from typing import TYPE_CHECKING
from tfrecords_tools.errors import UserError

if TYPE_CHECKING:
    import tensorflow as tf

FIT_MODES = ("stretch", "pad", "pad_edge", "crop")
# TensorFlow is imported inside the functions that need it: `image_header` serves
# `gmcml-tf predict --server` without loading it.


def fit_modes(fit: str) -> tuple[str, ...]:
    """`stretch` -> ("stretch",); `stretch+crop` -> ("stretch", "crop"); ValueError otherwise."""
    modes = tuple(fit.split("+")) if isinstance(fit, str) else ()
    if not modes or any(m not in FIT_MODES for m in modes) or len(set(modes)) != len(modes):
        raise ValueError(f"fit: {fit!r} is not one of {', '.join(FIT_MODES)} or several of them "
                         "joined by '+' (e.g. stretch+crop)")
    return modes


def fit_to_square(image: tf.Tensor, size: int, fit: str = "stretch") -> tf.Tensor:
    """(H, W, 3) or (B, H, W, 3) float in [0, 1] -> (..., size, size, 3) float32; with
    several modes (`stretch+crop`) -> (..., views, size, size, 3), one view per mode."""
    import tensorflow as tf
    modes = fit_modes(fit)
    if len(modes) > 1:
        return tf.stack([_fit_one(image, size, m) for m in modes], axis=-4)
    return _fit_one(image, size, modes[0])


def _fit_one(image: tf.Tensor, size: int, fit: str) -> tf.Tensor:
    import tensorflow as tf
    image = tf.cast(image, tf.float32)
    if fit == "stretch":
        out = tf.image.resize(image, (size, size), antialias=True)
    elif fit == "pad":
        out = tf.image.resize_with_pad(image, size, size, antialias=True)
    elif fit == "pad_edge":
        out = _pad_edge(image, size)
    else:
        shape = tf.shape(image)
        h, w = tf.cast(shape[-3], tf.float32), tf.cast(shape[-2], tf.float32)
        scale = tf.cast(size, tf.float32) / tf.minimum(h, w)
        new = tf.cast(tf.math.ceil(tf.stack([h * scale, w * scale])), tf.int32)
        out = tf.image.resize(image, tf.maximum(new, size), antialias=True)
        out = tf.image.resize_with_crop_or_pad(out, size, size)
    return tf.clip_by_value(out, 0.0, 1.0)


def _pad_edge(image: tf.Tensor, size: int) -> tf.Tensor:
    """The long side scaled to `size`, then every output row (column) past the photo reads its
    nearest border row (column): an index map clipped to the photo, one gather per axis."""
    import tensorflow as tf
    shape = tf.shape(image)
    h, w = tf.cast(shape[-3], tf.float32), tf.cast(shape[-2], tf.float32)
    scale = tf.cast(size, tf.float32) / tf.maximum(h, w)
    nh = tf.clip_by_value(tf.cast(tf.round(h * scale), tf.int32), 1, size)
    nw = tf.clip_by_value(tf.cast(tf.round(w * scale), tf.int32), 1, size)
    small = tf.image.resize(image, tf.stack([nh, nw]), antialias=True)
    rows = tf.clip_by_value(tf.range(size) - (size - nh) // 2, 0, nh - 1)
    cols = tf.clip_by_value(tf.range(size) - (size - nw) // 2, 0, nw - 1)
    return tf.gather(tf.gather(small, rows, axis=-3), cols, axis=-2)


# The decoders' own formats; everything else is refused before decoding.
FORMATS = "JPEG, PNG, GIF, BMP or WebP"
# Decoded pixels per image, checked from the header BEFORE anything is allocated: a
# 2 KB file may declare 20000 x 20000 (a decompression bomb: 4.8 GB as float32 RGB).
# 8192² covers 67-megapixel photos (768 MiB as float32); the server's --max-pixels
# (rest.Limits) is usually lower.
MAX_PIXELS = 8192 * 8192
_PIL_FORMATS = {"JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP"}  # MPO: a camera's multi-picture JPEG


class ImageError(UserError, ValueError):
    """Encoded bytes that are not a decodable image, or one over the pixel limit."""


def image_header(data: bytes, max_pixels: int = MAX_PIXELS) -> tuple[str, int, int]:
    """(format, width, height) from the header alone (no pixel is decoded), or ImageError.

    The Python twin of the in-graph guard of `decode_image`, for the server and the CLI,
    which name the offending image in their message.
    """
    import io
    import warnings

    from PIL import Image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                fmt, (w, h) = im.format, im.size
    except Image.DecompressionBombError as e:  # PIL's own limit (179 M pixels), above ours
        import re
        declared = re.search(r"\((\d+) pixels\)", str(e))
        raise ImageError(f"header declares {declared.group(1) if declared else 'more than 179 M'} pixels, "
                         f"over the limit of {max_pixels} (a decompression bomb?)") from None
    except Exception:  # PIL parsing untrusted bytes: any failure means "not an image"
        raise ImageError(f"not a {FORMATS} image" + (" (empty)" if not data else "")) from None
    if fmt not in _PIL_FORMATS:
        raise ImageError(f"not a {FORMATS} image ({fmt} cannot be decoded)")
    if w * h > max_pixels:
        raise ImageError(f"{w}x{h} pixels is over the limit of {max_pixels}")
    if fmt == "GIF":  # TensorFlow's GIF decoder (giflib) unpacks EVERY frame, even for the first
        frames = _gif_frames(data)
        total = sum(fw * fh for fw, fh in frames)
        if total > max_pixels:
            raise ImageError(f"animated GIF of {len(frames)} frames, {total} pixels in all, is over the "
                             f"limit of {max_pixels} (every frame is decoded)")
    return fmt, w, h


def header_problem(path: str) -> str | None:
    """Why the file at `path` is no photo `evaluate` takes, from its bytes' header (unreadable,
    not an image, too many pixels), or None when the header is fine."""
    try:
        with open(path, "rb") as f:
            image_header(f.read())
    except ImageError as e:
        return f"undecodable image: {e}"
    except OSError as e:
        return f"unreadable file: {e.strerror or e.__class__.__name__}"
    return None


def _gif_frames(data: bytes) -> list[tuple[int, int]]:
    """(width, height) of each frame of a GIF, from its block structure (no LZW decoding)."""
    def skip_sub_blocks(pos: int) -> int:
        while pos < len(data):
            n = data[pos]
            pos += 1 + n
            if n == 0:
                break
        return pos

    pos, frames = 13, []
    if len(data) > 10 and data[10] & 0x80:            # global colour table
        pos += 3 * 2 ** ((data[10] & 7) + 1)
    while pos < len(data) and data[pos] != 0x3B:      # 0x3B: trailer
        if data[pos] == 0x21:                         # extension: label, then sub-blocks
            pos = skip_sub_blocks(pos + 2)
        elif data[pos] == 0x2C and pos + 10 <= len(data):  # image descriptor
            fw, fh, flags = data[pos + 5] | data[pos + 6] << 8, data[pos + 7] | data[pos + 8] << 8, data[pos + 9]
            pos += 10 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
            pos = skip_sub_blocks(pos + 1)            # +1: the LZW minimum code size
            frames.append((fw, fh))
        else:
            break
    return frames


def error_message(e: Exception) -> str:
    """The one informative line of a TensorFlow decoding error (no node names, no op names)."""
    import re
    text = getattr(e, "message", None) or str(e)
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("Graph execution error", "Detected at node", "<stack traces",
                                        "[[", "Summarized data")):
            continue
        line = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", line)
        line = re.sub(r"\s*\[Op:[^\]]*\](\s*name:.*)?$", "", line)
        line = re.sub(r"^assertion failed: \[(.*)\]$", r"\1", line)
        m = re.match(r"^Expected .* to be true\. Summarized data: b?'?(.*?)'?$", line)
        return m.group(1) if m else line
    return text.strip() or e.__class__.__name__


def _header_pixels(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(width x height as declared by a JPEG/PNG/GIF/BMP/WebP header (int64; -1: not one),
    whether it is WebP)."""
    import tensorflow as tf
    head = tf.strings.substr(tf.strings.join([tf.strings.substr(data, 0, 32), "\0" * 32]), 0, 32)
    b = tf.cast(tf.io.decode_raw(head, tf.uint8), tf.int64)

    def starts(offset, magic: bytes):
        return tf.reduce_all(tf.equal(b[offset:offset + len(magic)], list(magic)))

    def le(offset, n):
        return sum(b[offset + i] * 256 ** i for i in range(n))

    def be(offset, n):
        return sum(b[offset + i] * 256 ** (n - 1 - i) for i in range(n))

    def jpeg():
        shape = tf.cast(tf.io.extract_jpeg_shape(data), tf.int64)   # (height, width, channels)
        return shape[1], shape[0]

    def webp():
        vp8x = (le(24, 3) + 1, le(27, 3) + 1)
        vp8 = (le(26, 2) % 16384, le(28, 2) % 16384)
        vp8l = (le(21, 2) % 16384 + 1, (le(22, 3) // 64) % 16384 + 1)
        return tf.case([(starts(12, b"VP8X"), lambda: vp8x), (starts(12, b"VP8 "), lambda: vp8),
                        (starts(12, b"VP8L"), lambda: vp8l)], default=lambda: (tf.constant(-1, tf.int64),) * 2)

    is_webp = tf.logical_and(starts(0, b"RIFF"), starts(8, b"WEBP"))
    w, h = tf.case([
        (starts(0, b"\xff\xd8\xff"), jpeg),
        (starts(0, b"\x89PNG\r\n\x1a\n"), lambda: (be(16, 4), be(20, 4))),
        (starts(0, b"GIF8"), lambda: (le(6, 2), le(8, 2))),
        (starts(0, b"BM"), lambda: (le(18, 4), le(22, 4))),
        (is_webp, webp),
    ], default=lambda: (tf.constant(-1, tf.int64),) * 2)
    bmp_height = tf.abs(tf.where(h >= 2 ** 31, h - 2 ** 32, h))  # BMP: negative = top-down
    h = tf.where(starts(0, b"BM"), bmp_height, h)
    big = tf.constant(2 ** 31, tf.int64)
    pixels = tf.where((w < 0) | (h < 0), tf.constant(-1, tf.int64), tf.minimum(w, big) * tf.minimum(h, big))
    return pixels, is_webp


def decode_image(data: tf.Tensor, max_pixels: int = MAX_PIXELS) -> tf.Tensor:
    """Encoded JPEG/PNG/GIF/BMP/WebP bytes -> (H, W, 3) float32 in [0, 1].

    Grey becomes RGB, alpha is dropped (composited on black, like the renders), and
    16-bit PNGs keep their full range through `convert_image_dtype`. An animated GIF
    gives its first frame. A header that declares more than `max_pixels` pixels, or
    bytes of another format, fail with InvalidArgumentError before any decoding.
    """
    import tensorflow as tf
    pixels, is_webp = _header_pixels(data)
    check = tf.debugging.Assert(tf.logical_and(pixels >= 0, pixels <= max_pixels), [tf.where(
        pixels < 0, tf.constant(f"not a {FORMATS} image"),
        tf.strings.format("image declares {} pixels, over the limit of {}", (pixels, max_pixels)))])
    with tf.control_dependencies([check]):
        data = tf.identity(data)
    # channels=0 keeps the file's own layout: JPEG cannot be asked for 4 channels.
    # WebP decodes to uint8 only; the others to float32 directly (16-bit PNG keeps its range).
    image = tf.cond(
        is_webp,
        lambda: tf.image.convert_image_dtype(
            tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False), tf.float32),
        lambda: tf.io.decode_image(data, channels=0, dtype=tf.float32, expand_animations=False))
    channels = tf.shape(image)[-1]
    rgb = tf.cond(channels < 3, lambda: tf.repeat(image[..., :1], 3, axis=-1),
                  lambda: image[..., :3])
    has_alpha = tf.logical_or(tf.equal(channels, 2), tf.equal(channels, 4))
    alpha = tf.cond(has_alpha, lambda: image[..., -1:], lambda: tf.ones_like(image[..., :1]))
    return tf.ensure_shape(rgb * alpha, [None, None, 3])
