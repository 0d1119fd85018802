"""The photos `adapt` learns from, and the record that lets `evaluate` tell whether it saw them.

A photo is known by the SHA-256 of its bytes, not its path: a copy or a renamed file is
the same photo, so an evaluation on photos that adapt saw is reported as transductive
however the folder was rearranged.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from gmcml_tf.evaluation.real_photos import PHOTO_SUFFIXES, PhotoError

# Below these counts the pseudo-label clusters (self-training) or the batch statistics
# (AdaBN: one batch of 8) are noise.
MIN_PHOTOS = {"self-training": 32, "adabn": 8}
HASHES_FILE = "adapt_photos.json"   # in an adapted run: {"adapted": [...], "held_out": [...]}


def list_photos(folder: str | Path) -> list[str]:
    """Every image below `folder` (category sub-folders or flat; labels are not used)."""
    root = Path(folder)
    if not root.is_dir():
        raise PhotoError(f"photo folder {root} " + ("is a file" if root.exists() else "does not exist"))
    paths = sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
    if not paths:
        raise PhotoError(f"photo folder {root} has no images ({', '.join(sorted(PHOTO_SUFFIXES))})")
    return paths


def content_hash(path: str | Path, salt: str = "") -> str:
    h = hashlib.sha256(salt.encode())
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def readable(paths: list[str]) -> tuple[list[str], dict[str, str]]:
    """The photos `evaluate` would decode, and {path: why} for the others (header checks:
    unreadable file, not an image, too many pixels)."""
    from gmcml_tf.preprocess import header_problem
    ok, skipped = [], {}
    for p in paths:
        why = header_problem(p)
        if why:
            skipped[p] = why
        else:
            ok.append(p)
    return ok, skipped


def holdout_split(folder: str | Path, fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(adapt, held out): the photos of `folder` split by a seeded hash of their content,
    `fraction` of each top-level sub-folder (class) held out. Copies of one photo land on
    the same side, even in different folders."""
    if not 0.0 < fraction < 1.0:
        raise PhotoError(f"--holdout {fraction}: a fraction strictly between 0 and 1")
    root = Path(folder)
    by_class: dict[str, list[tuple[str, str]]] = {}
    for p in list_photos(root):
        rel = Path(p).relative_to(root)
        group = rel.parts[0] if len(rel.parts) > 1 else ""
        by_class.setdefault(group, []).append((content_hash(p, f"gmcml-tf holdout {seed}:"), p))
    held_keys: set[str] = set()
    for members in by_class.values():
        keys = sorted({k for k, _ in members})
        held_keys.update(keys[: int(round(fraction * len(keys)))])
    adapt, held = [], []
    for members in by_class.values():
        for k, p in members:
            (held if k in held_keys else adapt).append(p)
    return sorted(adapt), sorted(held)


def _hashes(run_path: str | Path, key: str) -> list[str]:
    f = Path(run_path) / HASHES_FILE
    if not f.is_file():
        return []
    try:
        return list(json.loads(f.read_text())[key])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PhotoError(f"{f}: unreadable ({e})") from None


def adapted_hashes(run_path: str | Path) -> list[str]:
    """Content hashes of every photo the run adapted on (none for a run that did not)."""
    return _hashes(run_path, "adapted")


def held_out_hashes(run_path: str | Path) -> list[str]:
    """Content hashes of the photos `adapt --holdout` kept back for evaluation."""
    return _hashes(run_path, "held_out")


def held_out_only(photos, run_path):
    """The photos of a PhotoSet that `adapt --holdout` held out of run `run_path` (by content)."""
    import dataclasses
    held = set(held_out_hashes(run_path))
    if not held:
        raise PhotoError(f"--holdout-of {run_path}: not a run adapted with --holdout")
    keep = [p for p in photos.photos if content_hash(p.path) in held]
    if not keep:
        raise PhotoError(f"--holdout-of {run_path}: none of the photos of {photos.source} is one it held out")
    return dataclasses.replace(photos, photos=keep, source=f"{photos.source} (held out by {run_path})")
