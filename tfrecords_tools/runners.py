"""Run a render: plan the shards, render the missing ones on a local process pool, write the manifest.

Re-running the same command skips complete shards and finishes the rest.
Workers are spawned (not forked) processes, each with its own EGL context.

"""
from __future__ import annotations

import ctypes
import dataclasses
import json
import multiprocessing as mp
import os
import platform
import queue
import shutil
import signal
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from tfrecords_tools import folder_lock, writer
from tfrecords_tools.compose import BackgroundPool
from tfrecords_tools.configlib import ConfigError
from tfrecords_tools.meshes import SourceError, nothing_loaded, open_source
from tfrecords_tools.plan import (VIEW_SPLIT_GUARD_DEGREES, ShardTask, make_shards, val_band,
                                  view_split_categories)
from tfrecords_tools.render_config import RenderConfig
from tfrecords_tools.errors import UserError

# Settings that do not change a single output byte; everything else must match on resume.
_NOT_IDENTITY = ("out", "workers", "device_index")


def identity(cfg: RenderConfig) -> dict:
    d = dataclasses.asdict(cfg)
    for k in _NOT_IDENTITY:
        d.pop(k)
    if not cfg.randomize.enabled:  # renders made before domain randomisation existed still resume
        d.pop("randomize")
    if cfg.categories is None:     # ... and before class lists
        d.pop("categories")
    return json.loads(json.dumps(d))  # tuples -> lists, as stored on disk


RENDER_PACKAGES = ("gmcml-tf", "numpy", "pillow", "trimesh", "moderngl", "tensorflow")


def versions(packages: tuple[str, ...] = RENDER_PACKAGES) -> dict:
    """Python's and the installed `packages`' versions (from their metadata: nothing is
    imported), for manifests and run folders; absent packages are left out."""
    import importlib.metadata as md
    out = {"python": platform.python_version()}
    for pkg in packages:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def git_commit() -> str | None:
    """The git commit of this code's checkout (None outside one, or without git), for run records."""
    import subprocess
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def _check_out_dir(out: Path, cfg: RenderConfig) -> None:
    """Refuse to mix shards of two different renders in one folder."""
    stamp = out / "render_config.json"
    if stamp.is_file():
        old = json.loads(stamp.read_text())
        if old != identity(cfg):
            diff = sorted(k for k in set(old) | set(identity(cfg)) if old.get(k) != identity(cfg).get(k))
            raise ConfigError(f"{out} holds a render with other settings (differs in: {', '.join(diff)}); "
                              "use another --out or delete it")
    elif out.is_dir() and any(out.glob("*.tfrecord")):
        raise ConfigError(f"{out} already holds shards of an unknown render; use another --out")
    else:
        writer.write_json_atomic(stamp, identity(cfg))


class WorkerDied(UserError, RuntimeError):
    """A render worker process ended abruptly (killed, out of memory, a crash in the GL driver)."""


_WORKER = _PROGRESS = _INIT_ERROR = None


def die_with_parent(parent_pid: int) -> None:
    """Linux: SIGKILL this process when its parent dies, so a `kill -9` of the render leaves
    no orphan still writing shards beside the re-run (which would then race it)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: orphans finish their shard and exit
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _init_worker(cfg: RenderConfig, progress_q, parent_pid: int) -> None:
    global _WORKER, _PROGRESS, _INIT_ERROR
    die_with_parent(parent_pid)
    from tfrecords_tools.worker import ViewRenderer
    try:
        _WORKER, _PROGRESS = ViewRenderer(cfg), progress_q
    except Exception as e:  # reported with the first task, as one clear error
        _INIT_ERROR = e


def _run_task(task: ShardTask, out_dir: str) -> dict:
    if _INIT_ERROR is not None:
        raise _INIT_ERROR
    return _WORKER.render_shard(task, Path(out_dir), progress=_PROGRESS.put)


@dataclasses.dataclass
class Plan:
    """Everything a runner needs before rendering: the shards, what is left, the manifest header."""
    tasks: list[ShardTask]
    todo: list[ShardTask]     # shards not complete in cfg.out
    header: dict              # manifest.json without the sums over shards

    @property
    def todo_views(self) -> int:
        return sum(len(t.units) for t in self.todo)


def manifest_header(cfg: RenderConfig, models_listed: int, background_images: int,
                    source=None) -> dict:
    header = {"config": dataclasses.asdict(cfg), "seed": cfg.seed, "versions": versions(),
              "source": {"spec": cfg.meshes, "models_listed": models_listed},
              "backgrounds": {"spec": cfg.backgrounds, "images": background_images}, "size": cfg.size}
    if source is not None and source.classes is not None:
        models = source.models()
        by_view = view_split_categories(models, cfg.val_fraction)
        header["classes"] = [{**c, "split": "view" if c["name"] in by_view else "model",
                              **({"val_azimuths": [round(a, 3) for a in val_band(cfg, c["name"])],
                                  "guard_degrees": VIEW_SPLIT_GUARD_DEGREES} if c["name"] in by_view else {})}
                             for c in source.classes.to_manifest()]
        header["class_list"] = {"preset": source.classes.preset,
                                "folders_without_meshes": list(source.ignored_folders),
                                "folders_not_selected": list(source.unselected),
                                "procedural_cannot_make": list(getattr(source, "cannot_make", []))}
    return header


def plan_render(cfg: RenderConfig) -> Plan:
    """List the meshes, plan the shards, prepare cfg.out (checked, stale temporaries removed).

    Shared by every runner (local pool, Beam), so they render the same work units.
    Never touches GL: safe in a driver process that has imported TensorFlow.
    """
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"render.out {out} is a file, not a folder")
    source = open_source(cfg.meshes, up_axis=cfg.up_axis, max_triangles=cfg.max_triangles,
                         procedural_per_category=cfg.procedural_per_category, seed=cfg.seed,
                         categories=cfg.categories)
    backgrounds = BackgroundPool(cfg.backgrounds)  # a bad folder fails here, before any work
    models = source.models()
    if not models:
        raise ConfigError(f"no 3D models found in {cfg.meshes}")
    tasks = make_shards(models, cfg)
    out.mkdir(parents=True, exist_ok=True)
    _check_out_dir(out, cfg)
    writer.remove_stale_temporaries(out)
    todo = [t for t in tasks if not writer.is_complete(out, t.name)]
    return Plan(tasks, todo, manifest_header(cfg, len(models), len(backgrounds), source))


def discard_if_empty(out: Path, manifest: dict, existed: bool) -> None:
    """A render in which no model loaded fails (SourceError) and leaves nothing behind:
    no empty shards, no manifest or stamp, and no --out folder if it did not exist before."""
    with_views = [c["name"] for c in manifest.get("classes", []) if sum(c["views"].values())]
    rendered = any(s["records"] for s in manifest["splits"].values())
    # a library's own class list needs 2 rendered classes; the preset keeps its 12 labels anyway
    too_few = "classes" in manifest and not manifest["class_list"]["preset"] and len(with_views) < 2
    if not manifest["skipped_meshes"] or (rendered and not too_few):
        return
    if not existed:
        shutil.rmtree(out, ignore_errors=True)
    else:
        for name in manifest["shards"]:
            (out / name).unlink(missing_ok=True)
            (out / writer.META_DIR / f"{name}.json").unlink(missing_ok=True)
        for name in ("render_config.json", "manifest.json"):
            (out / name).unlink(missing_ok=True)
        if (out / writer.META_DIR).is_dir() and not any((out / writer.META_DIR).iterdir()):
            (out / writer.META_DIR).rmdir()
    if rendered:
        raise SourceError(f"{manifest['source']['spec']}: only {len(with_views)} category had a readable "
                          f"mesh ({', '.join(with_views)}); a classifier needs at least 2 (reasons: "
                          + "; ".join(f"{k}: {v['reason']}" for k, v in list(manifest["skipped_meshes"].items())[:3])
                          + "); nothing was written")
    raise nothing_loaded(manifest["source"]["spec"], manifest["skipped_meshes"])


def write_manifest(out: Path, shard_names: list[str], header: dict) -> dict:
    """Sum the shards' sidecars into out/manifest.json (the same for every runner); returns it."""
    manifest = writer.build_manifest(Path(out), list(shard_names), header)
    manifest["config"] = json.loads(json.dumps(manifest["config"]))
    writer.write_json_atomic(Path(out) / "manifest.json", manifest)
    return manifest


def _drain(q, bar) -> None:
    while True:
        try:
            bar.update(q.get_nowait())
        except queue.Empty:
            return


def render(cfg: RenderConfig, show_progress: bool = True) -> dict:
    """Render everything `cfg` asks for into cfg.out; returns the manifest. Refused
    (FolderBusy) while another process writes into cfg.out."""
    existed = Path(cfg.out).exists()
    with folder_lock.hold(cfg.out):
        return _render(cfg, show_progress, existed)


def _render(cfg: RenderConfig, show_progress: bool, existed: bool) -> dict:
    from tqdm import tqdm
    out = Path(cfg.out)
    plan = plan_render(cfg)
    tasks, todo = plan.tasks, plan.todo
    total_views = plan.todo_views
    workers = min(cfg.workers or os.cpu_count() or 1, max(1, len(todo)))
    t0 = time.perf_counter()
    bar = tqdm(total=total_views, unit="view", smoothing=0.1,  # None: no bar where stderr is no terminal
               disable=True if not show_progress or not todo else None,
               desc=f"render {out.name} ({len(tasks) - len(todo)}/{len(tasks)} shards done)")
    if todo:
        # Always spawned processes, even for one worker: forking a process that holds a GL
        # context is unsafe, and Mesa's llvmpipe crashes in a process that has imported
        # TensorFlow (both bring an LLVM), as the CLI or a test session may have.
        # A process pool that notices a dead worker (multiprocessing.Pool waits forever).
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(cfg, q, os.getpid())) as pool:
            pending = {pool.submit(_run_task, t, str(out)) for t in todo}
            try:
                while pending:
                    done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    _drain(q, bar)
                    for f in done:
                        f.result()  # re-raises a worker's error here
            except BrokenProcessPool:
                raise WorkerDied("a render worker process died (killed, or out of memory: try fewer "
                                 "--workers or a lower render.max_triangles); complete shards are "
                                 "kept, re-run the same command to resume") from None
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            _drain(q, bar)
    bar.close()
    seconds = time.perf_counter() - t0
    manifest = write_manifest(out, [t.name for t in tasks], plan.header)
    discard_if_empty(out, manifest, existed)
    manifest["_run"] = {"rendered_views": total_views, "seconds": round(seconds, 2),
                        "views_per_s": round(total_views / seconds, 1) if total_views else 0.0,
                        "workers": workers, "shards_skipped_complete": len(tasks) - len(todo)}
    return manifest
