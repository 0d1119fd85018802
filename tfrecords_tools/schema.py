"""The shard format: `tf.train.Example` feature keys, and an encoder that needs no TensorFlow.

Render workers write shards without importing TensorFlow (it costs ~2 s and
~500 MB per process): a tf.train.Example is a small protobuf and a TFRecord a
length + CRC32C frame, both encoded here byte for byte as TensorFlow does.
`gmcml_tf.data` parses them with `feature_spec()`.

Depth is stored as a 16-bit PNG: value = round(depth_in_object_radii * DEPTH_SCALE),
0 where there is no object (so 1 unit = 1/1000 radius; at most 65.5 radii).
"""
from __future__ import annotations

import struct

import google_crc32c

DEPTH_SCALE = 1000.0

# key -> (kind, description); kind is bytes | int64 | float. The README's table is made from this.
FEATURES: dict[str, tuple[str, str]] = {
    "image/encoded": ("bytes", "PNG RGB: the textured object composited over the background (O)"),
    "mask/encoded": ("bytes", "PNG RGB: category flat colour x depth shading on black (M)"),
    "depth/encoded": ("bytes", f"PNG uint16: linear depth x {DEPTH_SCALE:g} (object radii), 0 = background"),
    "alpha/encoded": ("bytes", "PNG L: 255 on the object, 0 elsewhere"),
    "label": ("int64", "index into the render's class list (manifest.json classes)"),
    "category": ("bytes", "class name, UTF-8, as the library's folder writes it"),
    "model_id": ("bytes", "id of the 3D model (unique within its category)"),
    "split": ("bytes", "train or val (by model; by view for one-model categories)"),
    "pose/view_index": ("int64", "vertex index in the cut icosphere"),
    "pose/azimuth": ("float", "degrees"),
    "pose/elevation": ("float", "degrees"),
    "pose/distance": ("float", "camera distance from the focal point, object radii"),
    "pose/focal_offset": ("float", "3 floats: focal point offset from the object centre, object radii"),
    "camera/mode": ("bytes", "center, close or truncated (render.randomize)"),
    "camera/fov": ("float", "vertical field of view, degrees"),
    "light/index": ("int64", "lighting condition index for this pose (0..lights_per_view-1)"),
    "light/azimuth": ("float", "degrees, world frame"),
    "light/elevation": ("float", "degrees, world frame"),
    "light/intensity": ("float", "directional intensity"),
    "light/ambient": ("float", "ambient term"),
    "background/id": ("bytes", "background image id ('none' for black)"),
    "seed": ("int64", "the seed of this view's random draws"),
    # Written only by renders with domain randomisation (render.randomize); the defaults
    # below stand for a record without them.
    "light/count": ("int64", "lights on the object (1-3); the first is light/azimuth, ..."),
    "light/color": ("float", "9 floats: RGB of each light, zeros for absent lights"),
    "light/specular": ("float", "Blinn-Phong highlight strength (0: none)"),
    "randomize/textured_materials": ("int64", "materials given a random texture or colour"),
    "randomize/occluders": ("int64", "primitives placed in front of or beside the object"),
    "randomize/truncated": ("int64", "1: the camera aims beside the object (camera/mode truncated)"),
}
# Defaults of the optional keys above, for records rendered without randomisation.
OPTIONAL = {"light/count": 1, "light/color": [1.0, 1.0, 1.0] + [0.0] * 6, "light/specular": 0.0,
            "randomize/textured_materials": 0, "randomize/occluders": 0, "randomize/truncated": 0}


def _varint(n: int) -> bytes:
    if 0 <= n < 0x80:  # most lengths and tags: one byte
        return _BYTES[n]
    n &= (1 << 64) - 1  # negative int64 -> two's complement, 10 bytes
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


_BYTES = [bytes([i]) for i in range(0x80)]


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def _feature(kind: str, value) -> bytes:
    values = value if isinstance(value, (list, tuple)) else [value]
    if kind == "bytes":
        items = b"".join(_field(1, v.encode() if isinstance(v, str) else bytes(v)) for v in values)
        return _field(1, items)  # Feature.bytes_list
    if kind == "float":
        return _field(2, _field(1, struct.pack(f"<{len(values)}f", *values)))  # packed
    if kind == "int64":
        return _field(3, _field(1, b"".join(_varint(int(v)) for v in values)))  # packed
    raise ValueError(f"unknown feature kind {kind!r}")


def encode_example(features: dict) -> bytes:
    """Serialise a dict (keys of FEATURES) as a tf.train.Example; keys sorted, so deterministic."""
    entries = []  # joined once: += would copy the PNGs again for every later key
    for key in sorted(features):
        kind = FEATURES[key][0]
        entry = _field(1, key.encode()) + _field(2, _feature(kind, features[key]))
        entries.append(_field(1, entry))  # Features.feature map entry
    return _field(1, b"".join(entries))   # Example.features


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
    """One TFRecord: uint64 length, masked CRC32C of the length, data, masked CRC32C of data."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", _masked_crc(length)) + data + struct.pack("<I", _masked_crc(data))


def read_records(path):
    """Yield the payloads of a TFRecord file, checking every frame and both CRCs as TensorFlow
    would (no TensorFlow needed); ValueError "PATH: <what> at byte N" on a bad frame."""
    pos = 0
    with open(path, "rb") as f:
        while head := f.read(12):
            if len(head) < 12:
                raise ValueError(f"{path}: truncated record header at byte {pos}")
            (n,), (crc,) = struct.unpack("<Q", head[:8]), struct.unpack("<I", head[8:])
            if _masked_crc(head[:8]) != crc:
                raise ValueError(f"{path}: bad record length at byte {pos}: CRC mismatch")
            data, tail = f.read(n), f.read(4)
            if len(data) < n or len(tail) < 4:
                raise ValueError(f"{path}: truncated record at byte {pos}")
            if _masked_crc(data) != struct.unpack("<I", tail)[0]:
                raise ValueError(f"{path}: bad record data at byte {pos}: CRC mismatch")
            pos += 16 + n
            yield data


def feature_spec():
    """`tf.io.parse_single_example` spec for the shards (imports TensorFlow)."""
    import tensorflow as tf
    kinds = {"bytes": tf.string, "int64": tf.int64, "float": tf.float32}
    spec = {k: tf.io.FixedLenFeature([], kinds[kind], default_value=OPTIONAL.get(k))
            for k, (kind, _) in FEATURES.items()}
    spec["pose/focal_offset"] = tf.io.FixedLenFeature([3], tf.float32)
    spec["light/color"] = tf.io.FixedLenFeature([9], tf.float32, default_value=OPTIONAL["light/color"])
    return spec


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = n = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def _fields(buf: bytes):
    """(field number, payload) of each length-delimited field of a message."""
    i = 0
    while i < len(buf):
        tag, i = _read_varint(buf, i)
        if tag & 7 != 2:
            raise ValueError("unexpected protobuf wire type in tf.train.Example")
        n, i = _read_varint(buf, i)
        yield tag >> 3, buf[i:i + n]
        i += n


_VECTORS = ("pose/focal_offset", "light/color")


def decode_example(data: bytes) -> dict:
    """Inverse of `encode_example`: scalars for one-element lists (no TensorFlow needed)."""
    out = {}
    for _, features in _fields(data):
        for _, entry in _fields(features):
            parts = dict(_fields(entry))
            key = parts[1].decode()
            (kind, payload), = _fields(parts[2])
            if kind == 1:
                values = [v for _, v in _fields(payload)]
            else:
                packed = b"".join(v for _, v in _fields(payload))
                if kind == 2:
                    values = list(struct.unpack(f"<{len(packed) // 4}f", packed))
                else:
                    values, j = [], 0
                    while j < len(packed):
                        v, j = _read_varint(packed, j)
                        values.append(v - (1 << 64) if v >= 1 << 63 else v)
            out[key] = values[0] if len(values) == 1 and key not in _VECTORS else values
    return out
