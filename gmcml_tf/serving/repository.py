"""The versions of one exported model on disk, loaded on demand (TF Serving's model base path).

`saved_models/NAME/` holds integer version folders; like TF Serving's default
"latest" policy, a request without a version gets the highest one, and a version
folder that appears while the server runs is picked up on the next request (the
folder is listed at most once per `poll_s`). Exports are renamed into place whole
(gmcml_tf.export), so a listed folder is always complete.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import tensorflow as tf
from gmcml_tf.errors import NotFound  # noqa: F401  (re-exported)


@dataclass
class Servable:
    version: int
    path: Path
    loaded: object
    signatures: dict = field(default_factory=dict)

    def signature(self, name: str):
        if name not in self.signatures:
            raise KeyError(name)
        return self.signatures[name]


def resolve_model_dir(path: str | Path) -> tuple[Path, int | None]:
    """`saved_models/NAME` or `saved_models/NAME/N` -> (base dir, version or None)."""
    path = Path(path)
    if (path / "saved_model.pb").is_file() and path.name.isdigit():
        return path.parent, int(path.name)
    if not path.is_dir():
        raise NotFound(f"{path}: no such model folder")
    return path, None


class ModelRepository:
    def __init__(self, base: str | Path, name: str | None = None, poll_s: float = 1.0):
        self.base = Path(base)
        self.name = name or self.base.name
        self.poll_s = poll_s
        self._versions: list[int] = []
        self._listed_at = -1e9
        self._loaded: dict[int, Servable] = {}
        self._lock = threading.Lock()
        self.refresh(force=True)
        if not self._versions:
            raise NotFound(f"{self.base}: no version folder (e.g. {self.base}/1/saved_model.pb)")

    def refresh(self, force: bool = False) -> list[int]:
        now = time.monotonic()
        if force or now - self._listed_at >= self.poll_s:
            self._versions = sorted(int(p.name) for p in self.base.iterdir()
                                    if p.name.isdigit() and (p / "saved_model.pb").is_file()) \
                if self.base.is_dir() else []
            self._listed_at = now
        return self._versions

    def versions(self) -> list[int]:
        return list(self.refresh())

    def get(self, name: str, version: int | None = None) -> Servable:
        if name != self.name:
            raise NotFound(f"Servable not found for request: Latest({name})")
        versions = self.refresh()
        if version is None:
            if not versions:
                raise NotFound(f"Servable not found for request: Latest({name})")
            version = versions[-1]
        elif version not in versions:
            raise NotFound(f"Servable not found for request: Specific({name}, {version})")
        with self._lock:  # one load per version even under concurrent first requests
            if version not in self._loaded:
                path = self.base / str(version)
                loaded = tf.saved_model.load(str(path))
                self._loaded[version] = Servable(version, path, loaded, dict(loaded.signatures))
                for old in [v for v in self._loaded if v not in versions]:
                    del self._loaded[old]  # a removed version is unloaded
            return self._loaded[version]
