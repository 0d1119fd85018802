"""Issue 7, corrupt data: truncated and bit-flipped shards, a bad PNG inside a record with
valid CRCs, manifests that do not match the shards; `fit` stops naming the shard and
leaves no workdir, or with `--skip-corrupt` leaves the shard out and says how many."""
from __future__ import annotations

import json
import shutil
import struct

import numpy as np
import pytest

from gmcml_tf.cli import main
from gmcml_tf.data import DataError, make_dataset
from gmcml_tf.data.shards import image_problems, open_split
from tfrecords_tools import schema
from tfrecords_tools.png import encode_png, png_problem

from conftest import REPO


@pytest.fixture
def data(smoke_render, tmp_path):
    """A private copy of the smoke render, free to damage."""
    cfg, _ = smoke_render
    out = tmp_path / "data"
    shutil.copytree(cfg.out, out)
    return out


def _rewrite(shard, change):
    """Re-frame a shard's records after `change(k, example_dict)`: valid CRCs, damaged content."""
    payloads = []
    for k, data in enumerate(schema.read_records(shard)):
        example = schema.decode_example(data)
        change(k, example)
        payloads.append(schema.encode_example(example))
    shard.write_bytes(b"".join(schema.frame_record(p) for p in payloads))


def _bad_png(k, example):
    if k == 0:
        png = bytearray(example["image/encoded"])
        png[-30] ^= 0xFF  # inside the last IDAT chunk
        example["image/encoded"] = bytes(png)


def _fit(data, tmp_path, capsys, *extra):
    rc = main(["fit", "--config", str(REPO / "configs/smoke.yaml"), "--data", str(data),
               "--workdir", str(tmp_path / "run"), "--no-progress", *extra])
    return rc, capsys.readouterr()


def test_png_problem_names_the_damage():
    png = encode_png(np.full((16, 16, 3), 200, np.uint8))
    assert png_problem(png) is None
    flipped = bytearray(png)
    flipped[45] ^= 1
    assert "bad CRC" in png_problem(bytes(flipped))
    assert "truncated" in png_problem(png[:-20])
    assert "signature" in png_problem(b"GIF89a....")
    # A CRC-valid chunk around a stream that does not inflate to the right size:
    body = b"IDAT" + b"\x78\x9c\x03\x00\x00\x00\x00\x01"
    fake = png[:33] + struct.pack(">I", 8) + body + struct.pack(">I", __import__("zlib").crc32(body)) \
        + png[-12:]
    assert "wrong size" in png_problem(fake)


@pytest.mark.parametrize("damage, why", [
    (lambda b: b[: len(b) // 2], "truncated record"),
    (lambda b: b[:100] + bytes([b[100] ^ 0x10]) + b[101:], "bad record data"),
    (lambda b: b[:4] + bytes([b[4] ^ 1]) + b[5:], "bad record length"),
])
def test_truncated_or_flipped_shard_is_named(data, damage, why):
    shard = sorted(data.glob("train-*.tfrecord"))[1]
    shard.write_bytes(damage(shard.read_bytes()))
    with pytest.raises(DataError, match=f"{shard.name}: corrupt shard \\({why}"):
        make_dataset(str(data), "train", image_size=32, batch_size=2)
    kept = open_split(data, "train", skip_corrupt=True)
    assert list(kept.skipped) == [str(shard)] and str(shard) not in kept.files
    ds = make_dataset(str(data), "train", image_size=32, batch_size=2, skip_corrupt=True,
                      training=False)
    assert sum(int(b["label"].shape[0]) for b in ds) == kept.records


def test_fit_stops_naming_the_shard_and_leaves_no_workdir(data, tmp_path, capsys):
    shard = sorted(data.glob("train-*.tfrecord"))[0]
    shard.write_bytes(shard.read_bytes()[:-7])
    rc, out = _fit(data, tmp_path, capsys)
    assert rc == 2 and "Traceback" not in out.err
    assert out.err.count("\n") == 1 and shard.name in out.err and "--skip-corrupt" in out.err
    assert not (tmp_path / "run").exists()


def test_fit_with_skip_corrupt_leaves_the_shard_out_and_counts_it(data, tmp_path, capsys):
    shard = sorted(data.glob("train-*.tfrecord"))[0]
    shard.write_bytes(shard.read_bytes()[:-7])
    rc, out = _fit(data, tmp_path, capsys, "--skip-corrupt")
    assert rc == 0, out.err
    assert f"skipping corrupt shard {shard}" in out.err
    assert "left out 1 corrupt shards" in out.out
    assert (tmp_path / "run" / "model.keras").is_file()


def test_bad_png_inside_a_valid_record_is_found(data, tmp_path, capsys):
    shard = sorted(data.glob("val-*.tfrecord"))[0]
    _rewrite(shard, _bad_png)
    assert image_problems(str(shard)) == ["record 0: image/encoded: bad CRC in 'IDAT' chunk"]
    # The frame check passes (CRCs are valid); TensorFlow's decode fails mid-run, and fit
    # then names the shard and record instead of TF's message that names no file.
    assert open_split(data, "val").records > 0
    rc, out = _fit(data, tmp_path, capsys)
    assert rc == 2 and "Traceback" not in out.err
    assert f"{shard}: record 0: image/encoded" in out.err
    kept = open_split(data, "val", skip_corrupt=True)
    assert str(shard) in kept.skipped and "corrupt image (record 0" in kept.skipped[str(shard)]


def test_manifest_that_does_not_match_the_shards(data):
    shards = sorted(data.glob("train-*.tfrecord"))
    stray = data / "train-00099-of-00100.tfrecord"
    shutil.copy(shards[0], stray)
    with pytest.raises(DataError, match="train-00099-of-00100.tfrecord: not listed in manifest.json"):
        open_split(data, "train")
    stray.unlink()
    shards[2].unlink()
    with pytest.raises(DataError, match=f"{shards[2].name}: missing \\(listed in manifest.json\\)"):
        open_split(data, "train")
    assert str(shards[2]) in open_split(data, "train", skip_corrupt=True).skipped
    shutil.copy(shards[1], shards[2])  # the right name, another shard's records
    manifest = json.loads((data / "manifest.json").read_text())
    n1, n2 = manifest["shard_records"][shards[1].name], manifest["shard_records"][shards[2].name]
    if n1 == n2:
        manifest["shard_records"][shards[2].name] = n2 + 1
        (data / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=f"{shards[2].name}: holds {n1} records, manifest.json says"):
        open_split(data, "train")


def test_every_shard_corrupt_is_an_error_even_when_skipping(data):
    for shard in data.glob("val-*.tfrecord"):
        shard.write_bytes(b"\x00" * 11)
    with pytest.raises(DataError, match="no usable 'val' shards"):
        open_split(data, "val", skip_corrupt=True)
