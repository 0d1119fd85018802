"""Atomic shard writing, resume bookkeeping and the manifest.

A shard exists under its final name only once it is complete: records go to a
temporary file that is fsync'ed and renamed. Its metadata sidecar
(`.meta/<shard>.json`) is renamed into place *before* the shard, so every
complete shard has its metadata and a crash at any point leaves nothing half-written.
"""
from __future__ import annotations

import collections
import errno
import json
import os
import tempfile
from pathlib import Path

from tfrecords_tools.schema import frame_record
from tfrecords_tools.errors import UserError

META_DIR = ".meta"


class WriteError(UserError):
    """An output file could not be written (disk full, quota, read-only, file size limit)."""


def umask() -> int:
    """The process umask, read without changing it (Linux reports it in /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: the classic set-and-restore
    os.umask(mask)
    return mask


def as_open_would(path: str | Path, directory: bool = False) -> None:
    """Give a mkstemp/mkdtemp result (0600/0700) the mode open()/mkdir() would have given it,
    so an atomic write is readable by whoever the user's umask lets read it."""
    os.chmod(path, (0o777 if directory else 0o666) & ~umask())


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """`data` under `path`, all or nothing: a temporary file, fsync'ed, then renamed.

    An OSError (ENOSPC above all) removes the temporary file and becomes a WriteError
    naming the file; what was complete before stays as it was.
    """
    path, tmp = Path(path), None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        as_open_would(tmp)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            hint = ("; complete files are kept, free space and re-run the same command to resume"
                    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else "")
            raise WriteError(f"{path}: cannot write ({e.strerror or e}){hint}") from None
        raise


def write_json_atomic(path: Path, obj) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def write_shard(out_dir: Path, name: str, records: list[bytes], meta: dict) -> None:
    out_dir = Path(out_dir)
    write_json_atomic(out_dir / META_DIR / f"{name}.json", meta)
    write_bytes_atomic(out_dir / name, b"".join(frame_record(r) for r in records))


def is_complete(out_dir: Path, name: str) -> bool:
    return (Path(out_dir) / name).is_file() and (Path(out_dir) / META_DIR / f"{name}.json").is_file()


def read_meta(out_dir: Path, name: str) -> dict:
    return json.loads((Path(out_dir) / META_DIR / f"{name}.json").read_text())


def remove_stale_temporaries(out_dir: Path) -> int:
    """Temporary files of an interrupted run (never complete shards)."""
    n = 0
    for d in (Path(out_dir), Path(out_dir) / META_DIR):
        for p in d.glob(".*.tmp") if d.is_dir() else []:
            p.unlink(missing_ok=True)
            n += 1
    return n


def build_manifest(out_dir: Path, shard_names: list[str], header: dict) -> dict:
    """Sum the shards' sidecars into `manifest.json` (deterministic: no timings)."""
    splits: dict[str, dict] = {}
    skipped, missing, triangles, records = {}, {}, {}, {}
    models = collections.defaultdict(set)
    randomized = collections.Counter()
    for name in sorted(shard_names):
        meta = read_meta(out_dir, name)
        records[name] = meta["records"]
        s = splits.setdefault(meta["split"], {"shards": 0, "records": 0,
                                              "per_category": collections.Counter()})
        s["shards"] += 1
        s["records"] += meta["records"]
        s["per_category"].update(meta["per_category"])
        for mid, info in meta["skipped_meshes"].items():
            skipped[f"{info['category']}/{mid}"] = info
        missing.update(meta["missing_textures"])
        triangles.update(meta["triangles"])
        models[meta["split"]].update(meta["triangles"])
        randomized.update(meta.get("randomized", {}))
    for split, s in splits.items():
        s["per_category"] = dict(sorted(s["per_category"].items()))
        s["models"] = len(models[split])
    if "classes" in header:   # the class list, with what each class got
        header = {**header, "classes": [
            {**c, "models": {sp: sum(1 for k in models[sp] if k.split("/", 1)[0] == c["name"]) for sp in splits},
             "views": {sp: s["per_category"].get(c["name"], 0) for sp, s in splits.items()}}
            for c in header["classes"]]}
    tri = sorted(triangles.values())
    # shard_records lets a reader check a copy of the folder without the .meta sidecars.
    return {**header, "splits": splits, "shards": sorted(shard_names), "shard_records": records,
            "skipped_meshes": dict(sorted(skipped.items())),
            "missing_textures": {"models": len(missing), "textures": sum(missing.values()),
                                 "per_model": dict(sorted(missing.items()))},
            "triangles": {"models": len(tri), "mean": round(sum(tri) / len(tri), 1) if tri else 0,
                          "max": tri[-1] if tri else 0},
            **({"randomized": dict(sorted(randomized.items()))} if randomized else {})}
