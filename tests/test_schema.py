"""The TensorFlow-free shard encoder writes what TensorFlow reads, byte for byte."""
from pathlib import Path

import numpy as np
import pytest

from tfrecords_tools import schema


def _features():
    f = {k: {"bytes": b"\x00\xffpng", "int64": 7, "float": 1.5}[kind]
         for k, (kind, _) in schema.FEATURES.items()}
    f.update({"pose/focal_offset": [0.1, -0.2, 0.3], "seed": -5, "label": 2 ** 40, "category": "car",
              "light/color": [1.0, 0.9, 0.8, 0.5, 0.5, 1.0, 0.0, 0.0, 0.0]})
    return f


def test_tensorflow_parses_our_examples_and_serialises_them_identically(tmp_path):
    tf = pytest.importorskip("tensorflow")
    data = schema.encode_example(_features())
    path = tmp_path / "x.tfrecord"
    path.write_bytes(schema.frame_record(data) * 3)
    records = list(tf.data.TFRecordDataset(str(path)))
    assert len(records) == 3
    parsed = tf.io.parse_single_example(records[0], schema.feature_spec())
    assert parsed["seed"].numpy() == -5 and parsed["label"].numpy() == 2 ** 40
    assert parsed["category"].numpy() == b"car" and parsed["image/encoded"].numpy() == b"\x00\xffpng"
    np.testing.assert_allclose(parsed["pose/focal_offset"].numpy(), [0.1, -0.2, 0.3], rtol=1e-6)
    assert tf.train.Example.FromString(records[0].numpy()).SerializeToString(deterministic=True) == data


def test_records_without_the_randomisation_keys_parse_with_their_defaults():
    tf = pytest.importorskip("tensorflow")
    plain = {k: v for k, v in _features().items() if k not in schema.OPTIONAL}
    parsed = tf.io.parse_single_example(schema.encode_example(plain), schema.feature_spec())
    assert parsed["light/count"].numpy() == 1 and parsed["randomize/occluders"].numpy() == 0
    np.testing.assert_array_equal(parsed["light/color"].numpy(), [1, 1, 1, 0, 0, 0, 0, 0, 0])


def test_decode_inverts_encode():
    d = schema.decode_example(schema.encode_example(_features()))
    assert d["seed"] == -5 and d["label"] == 2 ** 40 and d["category"] == b"car"
    assert d["pose/focal_offset"] == pytest.approx([0.1, -0.2, 0.3])


def test_corruption_is_detected_by_crc(tmp_path):
    path = tmp_path / "x.tfrecord"
    good = schema.frame_record(schema.encode_example(_features()))
    path.write_bytes(good)
    assert len(list(schema.read_records(path))) == 1
    flipped = bytearray(good)
    flipped[40] ^= 0x01
    path.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="CRC"):
        list(schema.read_records(path))
    path.write_bytes(good[:-7])
    with pytest.raises(ValueError, match="truncated"):
        list(schema.read_records(path))


def test_docs_feature_table_matches_schema():
    """docs/rendering.md documents every feature key with its type; drift would mislead users."""
    from tfrecords_tools.schema import FEATURES
    readme = (Path(__file__).resolve().parents[1] / "docs" / "rendering.md").read_text()
    for key, (kind, description) in FEATURES.items():
        assert f"| `{key}` | {kind} | {description} |" in readme, key
