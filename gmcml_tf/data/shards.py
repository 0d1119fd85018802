"""Finding and checking the shards of a render (docs/method.md §1): `open_split`, `DataError`.

A render folder holds `manifest.json` and `{split}-XXXXX-of-XXXXX.tfrecord` shards
(tfrecords_tools.writer). Every user mistake here (wrong folder, nothing rendered yet,
a truncated copy, a shard of another render, a manifest that does not match) becomes
one `DataError` line naming the folder or the shard, which the CLI prints as is; with
`skip_corrupt` the bad shards are left out instead, and reported.
"""
from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

from gmcml_tf.errors import DataError  # noqa: F401  (re-exported)
from tfrecords_tools.png import png_problem
from tfrecords_tools.schema import decode_example, read_records

PNG_FEATURES = ("image/encoded", "mask/encoded", "alpha/encoded", "depth/encoded")

SPLITS = ("train", "val")


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")


def read_manifest(data_dir: str | Path) -> dict:
    """The render's manifest.json (written last by a render, so it marks a finished one)."""
    d = Path(data_dir)
    if not d.is_dir():
        raise DataError(f"{d}: no such data folder (run gmcml-tf render first)")
    path = d / "manifest.json"
    if not path.is_file():
        raise DataError(f"{d}: no manifest.json (not a finished render; run gmcml-tf render first)")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: unreadable manifest ({e})") from None


def read_classes(data_dir: str | Path):
    """The render's class list (tfrecords_tools.classes.ClassList): what its manifest records,
    or the 12-class PASCAL3D+ preset for renders made before class lists were recorded."""
    from tfrecords_tools.classes import ClassList
    m = read_manifest(data_dir)
    return ClassList.from_manifest(m.get("classes"), (m.get("class_list") or {}).get("preset"))


def val_split_note(data_dir: str | Path) -> str:
    """How the render's val split was made, in words: by model, or by view for the categories
    with too few models to hold one out."""
    m = read_manifest(data_dir)
    by_view = [c["name"] for c in m.get("classes", []) if c.get("split") == "view"]
    if not by_view:
        return "val split by model (no model in both splits)"
    band = next(c for c in m["classes"] if c.get("split") == "view")["val_azimuths"][1]
    how = f"by view (a held-out {band:g}-degree band of azimuths of the same models)"
    if len(by_view) == len(m["classes"]):
        return f"val split {how} for every class"
    return f"val split by model, except {', '.join(by_view)}: {how}"


def list_shards(data_dir: str, split: str) -> list[str]:
    """Sorted paths of the `split` shards of a finished render; DataError when there are none."""
    check_split(split)
    read_manifest(data_dir)
    files = sorted(str(p) for p in Path(data_dir).glob(f"{split}-*-of-*.tfrecord"))
    if not files:
        raise DataError(f"{data_dir}: no {split!r} shards (run gmcml-tf render first)")
    return files


def count_records(path: str) -> int:
    """Records in one shard, checking every frame and both CRCs (`schema.read_records`).

    A truncated or garbled shard (an interrupted copy, a bad disk) then fails up front
    with the shard's name, instead of a DataLossError naming no file mid-training. It
    reads the shard once (hardware CRC32C: ~0.1 s for the 140 MB quickstart render,
    and it warms the page cache for the first epoch).
    """
    try:
        return sum(1 for _ in read_records(path))
    except ValueError as e:
        raise DataError(f"{path}: corrupt shard ({_why(e, path)})") from None
    except OSError as e:
        raise DataError(f"{path}: unreadable shard ({e.strerror})") from None


def _why(e: Exception, path: str) -> str:
    """An error's message without the leading "PATH: " it names already."""
    return str(e).removeprefix(f"{path}: ")


def image_problems(path: str, limit: int = 1) -> list[str]:
    """Up to `limit` "record K: <feature>: <why>" lines for the PNGs of one shard that are not
    intact (a render or copy gone wrong with valid record CRCs); ~4,000 records/s."""
    found = []
    try:
        for k, data in enumerate(read_records(path)):
            try:
                example = decode_example(data)
            except Exception:  # a garbled protobuf: any parse error means the same here
                found.append(f"record {k}: not a tf.train.Example")
            else:
                for key in PNG_FEATURES:
                    why = png_problem(example.get(key, b""))
                    if why:
                        found.append(f"record {k}: {key}: {why}")
                        break
            if len(found) >= limit:
                break
    except ValueError as e:
        found.append(_why(e, path))
    return found


@dataclasses.dataclass(frozen=True)
class ShardSet:
    """The usable shards of one split: paths, their record total, and what was left out."""
    files: list[str]
    records: int
    skipped: dict[str, str]  # shard path -> why it was left out (only with skip_corrupt)


def open_split(data_dir: str | Path, split: str, *, skip_corrupt: bool = False) -> ShardSet:
    """The checked shards of `split`: every record frame and CRC, each shard's record count
    against the manifest, shards the manifest lists but are missing, shards it does not list.

    Any problem is a DataError naming the shard, unless `skip_corrupt`: then the problem
    shards are left out (and the PNGs of the others checked too, so a bad image cannot stop
    training later) and listed in `skipped`; DataError only if nothing usable is left.
    """
    check_split(split)
    d = Path(data_dir)
    key = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                for p in sorted(d.glob(f"{split}-*-of-*.tfrecord")))
    return _open_split(str(d), split, skip_corrupt, key)


@functools.lru_cache(maxsize=16)  # fit opens each split once per stage; the files key the cache
def _open_split(data_dir: str, split: str, skip_corrupt: bool, _files_key) -> ShardSet:
    manifest, d = read_manifest(data_dir), Path(data_dir)
    present = {p.name for p in d.glob(f"{split}-*-of-*.tfrecord")}
    listed = {n for n in manifest.get("shards", present) if n.startswith(f"{split}-")}
    expected = manifest.get("shard_records", {})
    problems: dict[str, str] = {}
    for name in sorted(listed - present):
        problems[name] = "missing (listed in manifest.json)"
    for name in sorted(present - listed):
        problems[name] = "not listed in manifest.json (a shard of another render?)"
    records = {}
    for name in sorted(present & listed):
        path = str(d / name)
        try:
            n = count_records(path)
        except DataError as e:
            problems[name] = _why(e, path)
            continue
        want = expected.get(name, _sidecar_records(d, name))
        if want is not None and n != want:
            problems[name] = f"holds {n} records, manifest.json says {want}"
        elif skip_corrupt and (bad := image_problems(path)):
            problems[name] = f"corrupt image ({bad[0]})"
        else:
            records[name] = n
    if problems and not skip_corrupt:
        name, why = next(iter(sorted(problems.items())))
        more = f" (and {len(problems) - 1} more shards)" if len(problems) > 1 else ""
        raise DataError(f"{d / name}: {why}{more}; delete it and re-run the same gmcml-tf render "
                        "(it renders only missing shards), or pass --skip-corrupt to leave it out")
    if not records:
        if problems:
            raise DataError(f"{d}: no usable {split!r} shards ({len(problems)} corrupt or missing)")
        raise DataError(f"{d}: no {split!r} shards (run gmcml-tf render first)")
    if sum(records.values()) == 0:
        raise DataError(f"{d}: the {split!r} shards hold no records")
    return ShardSet([str(d / n) for n in sorted(records)], sum(records.values()),
                    {str(d / n): why for n, why in sorted(problems.items())})


def _sidecar_records(d: Path, name: str) -> int | None:
    """The shard's record count from its render sidecar, for manifests older than shard_records."""
    try:
        return json.loads((d / ".meta" / f"{name}.json").read_text())["records"]
    except (OSError, ValueError, KeyError):
        return None
