"""The versions of one exported model on disk, loaded in the background (TF Serving's model base path).

`saved_models/NAME/` holds integer version folders. As in TF Serving:
- the served versions follow a version policy: `latest` (the newest N, default 1),
  `all`, or `specific` version numbers;
- the versions to serve at start are loaded, and warmed up, before the constructor
  returns, so the first request does not pay for a load;
- a version folder that appears later is loaded by a watcher thread. It is LOADING
  until it has answered one warm-up call per signature, then AVAILABLE. Requests go to
  the newest AVAILABLE version meanwhile and never wait on a load;
- a version that is no longer wanted is unloaded (END) only once a wanted one is
  AVAILABLE (the availability-preserving policy), so the model never goes dark;
- a version that fails to load is END with its error, logged once, and the versions
  already AVAILABLE keep serving.
Exports are renamed into place whole (gmcml_tf.serving.export), so a listed folder is complete.

Once the versions to serve at start are loaded, every object alive then (TensorFlow's
modules, the first model) is moved out of the cyclic garbage collector's reach
(`gc.freeze`). Without that, a full collection triggered while a later version loads
walks them all with the GIL held and stalls every request for ~0.4 s (42x the median
on a 2-core EPYC); with it the worst request during a load is ~4x. Freezing after
every load would also keep each unloaded version's reference cycles (+65 MB a swap,
measured); once at start costs that once, when the first version is unloaded.
"""
from __future__ import annotations

import gc
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from gmcml_tf.errors import NotFound

LOADING, AVAILABLE, END = "LOADING", "AVAILABLE", "END"


@dataclass
class Servable:
    version: int
    path: Path
    loaded: object
    signatures: dict = field(default_factory=dict)
    classes: dict = field(default_factory=dict)   # class_names (and classes) of the export

    def signature(self, name: str):
        if name not in self.signatures:
            raise KeyError(name)
        return self.signatures[name]


@dataclass
class VersionState:
    version: int
    state: str
    error: str = ""


def resolve_model_dir(path: str | Path) -> tuple[Path, int | None]:
    """`saved_models/NAME` or `saved_models/NAME/N` -> (base dir, version or None)."""
    path = Path(path)
    if (path / "saved_model.pb").is_file() and path.name.isdigit():
        return path.parent, int(path.name)
    if not path.is_dir():
        raise NotFound(f"{path}: no such model folder")
    return path, None


def list_versions(base: Path) -> list[int]:
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir()
                  if p.name.isdigit() and (p / "saved_model.pb").is_file())


def versions_on_disk(base: Path) -> list[int]:
    """`list_versions`, or NotFound naming the folder when it holds none."""
    on_disk = list_versions(base)
    if not on_disk:
        raise NotFound(f"{base}: no version folder (e.g. {base}/1/saved_model.pb)")
    return on_disk


def version_dir(model: str | Path) -> Path:
    """`saved_models/NAME` (its latest version) or `saved_models/NAME/N` -> the version folder."""
    base, version = resolve_model_dir(model)
    return base / str(version or versions_on_disk(base)[-1])


def load_servable(path: Path) -> Servable:
    import tensorflow as tf
    loaded = tf.saved_model.load(str(path))
    return Servable(int(path.name), path, loaded, dict(loaded.signatures), _classes(path))


def _classes(path: Path) -> dict:
    """The class list an export records (gmcml_tf.serving.export metadata), {} without one."""
    import json
    from gmcml_tf.serving.export import METADATA_FILE
    try:
        meta = json.loads((path / METADATA_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {k: meta[k] for k in ("class_names", "classes", "class_preset") if k in meta}


def _warmup_value(spec):
    """One small valid example for an input: a PNG for string inputs, zeros otherwise."""
    import tensorflow as tf
    if spec.dtype == tf.string:
        png = tf.io.encode_png(tf.zeros((32, 32, 3), tf.uint8))
        return tf.reshape(png, [1] * spec.shape.rank) if spec.shape.rank else png
    shape = [1 if i == 0 and d is None else (32 if d is None else d) for i, d in enumerate(spec.shape)]
    return tf.zeros(shape, spec.dtype)


def warm_up(servable: Servable) -> None:
    """One call per signature (TF Serving's warm-up requests): the first real request then
    finds the graph optimised and the buffers allocated."""
    for fn in servable.signatures.values():
        specs = fn.structured_input_signature[1]
        fn(**{k: _warmup_value(s) for k, s in specs.items()})


class ModelRepository:
    """Serves `base`'s versions per `policy` ("latest", "all" or "specific").

    `latest` keeps the newest `num_versions`; `specific` serves exactly `versions`.
    `watch` starts the thread that picks up new folders every `poll_s` seconds;
    `loader` (path -> Servable) is `load_servable` plus a warm-up unless replaced.
    """

    def __init__(self, base: str | Path, name: str | None = None, poll_s: float = 1.0,
                 policy: str = "latest", num_versions: int = 1, versions: list[int] | None = None,
                 watch: bool = True, loader: Callable[[Path], Servable] | None = None,
                 log=None):
        if policy not in ("latest", "all", "specific"):
            raise ValueError(f"version policy must be latest, all or specific, not {policy!r}")
        if policy == "specific" and not versions:
            raise ValueError("the specific version policy needs at least one version")
        self.base = Path(base)
        self.name = name or self.base.name
        self.poll_s = max(poll_s, 0.05)
        self.policy, self.num_versions = policy, max(1, num_versions)
        self.specific = sorted(set(versions or []))
        self._loader = loader or self._load_and_warm
        self._log = log or (lambda msg: print(f"gmcml-tf serve: {msg}", file=sys.stderr, flush=True))
        self._lock = threading.Lock()
        self._states: dict[int, VersionState] = {}
        self._servables: dict[int, Servable] = {}
        self._stop = threading.Event()
        on_disk = versions_on_disk(self.base)
        missing = [v for v in self.specific if v not in on_disk]
        if missing:
            raise NotFound(f"{self.base}: no version {', '.join(map(str, missing))} "
                           f"(on disk: {', '.join(map(str, on_disk))})")
        self.sync()
        gc.freeze()  # see the module docstring
        if not self._servables:
            errors = "; ".join(f"version {s.version}: {s.error}" for s in self._states.values())
            raise NotFound(f"{self.base}: no version could be loaded ({errors})")
        self._thread = None
        if watch:
            self._thread = threading.Thread(target=self._watch, name=f"load-{self.name}", daemon=True)
            self._thread.start()

    @staticmethod
    def _load_and_warm(path: Path) -> Servable:
        servable = load_servable(path)
        warm_up(servable)
        return servable

    def _wanted(self, on_disk: list[int]) -> list[int]:
        if self.policy == "all":
            return on_disk
        if self.policy == "specific":
            return [v for v in self.specific if v in on_disk]
        return on_disk[-self.num_versions:]

    def sync(self) -> None:
        """One round of the manager: load wanted versions (newest first), then unload the rest."""
        on_disk = list_versions(self.base)
        wanted = self._wanted(on_disk)
        for v in sorted(wanted, reverse=True):
            if self._stop.is_set():
                return
            with self._lock:
                if v in self._states:   # loaded, loading or failed: one attempt per version
                    continue
                self._states[v] = VersionState(v, LOADING)
            try:
                servable = self._loader(self.base / str(v))
            except Exception as e:  # any load failure leaves the served versions as they are
                message = f"{e.__class__.__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
                with self._lock:
                    self._states[v] = VersionState(v, END, message)
                self._log(f"version {v} of {self.name} failed to load, still serving "
                          f"{self.versions() or 'nothing'}: {message}")
                continue
            with self._lock:
                self._servables[v] = servable
                self._states[v] = VersionState(v, AVAILABLE)
        with self._lock:
            if not any(v in self._servables for v in wanted):
                return  # availability first: keep what serves until a wanted version does
            for v in [v for v in self._servables if v not in wanted]:
                del self._servables[v]
                self._states[v] = VersionState(v, END)

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.sync()
            except OSError as e:  # the folder went away or became unreadable: keep serving
                self._log(f"cannot list {self.base}: {e}")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def versions(self) -> list[int]:
        """The versions that can answer requests now."""
        with self._lock:
            return sorted(self._servables)

    def status(self, name: str, version: int | None = None) -> list[VersionState]:
        """TF Serving's model status: every version it knows of, newest first."""
        if name != self.name:
            raise NotFound(f"Could not find any versions of model {name}")
        with self._lock:
            states = sorted(self._states.values(), key=lambda s: -s.version)
        if version is not None:
            states = [s for s in states if s.version == version]
            if not states:
                raise NotFound(f"Could not find version {version} of model {name}")
        return states

    def get(self, name: str, version: int | None = None) -> Servable:
        """The servable for a request: never waits for a load."""
        if name != self.name:
            raise NotFound(f"Servable not found for request: Latest({name})")
        with self._lock:
            if version is None:
                if not self._servables:
                    raise NotFound(f"Servable not found for request: Latest({name})")
                return self._servables[max(self._servables)]
            if version not in self._servables:
                raise NotFound(f"Servable not found for request: Specific({name}, {version})")
            return self._servables[version]

    def wait_until_available(self, version: int, timeout: float = 300.0) -> VersionState:
        """Polls the status (for tools and tests); returns the state once it is not LOADING."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                state = self._states.get(version)
            if state is not None and state.state != LOADING:
                return state
            time.sleep(0.05)
        raise TimeoutError(f"version {version} of {self.name} still not loaded after {timeout:.0f} s")
