"""Run a render on Apache Beam: the local runner's shards, rendered by Beam workers.

The driver plans exactly as the local runner (runners.plan_render: same work
units, same shard names, same out-folder checks) and never touches GL. The
pipeline is

    shard names not yet complete -> Reshuffle -> RenderShardFn -> count -> write manifest.json

RenderShardFn.setup() opens one ViewRenderer per DoFn instance (one EGL context,
its mesh caches reused across shards) and re-derives the plan from the config,
checked against the driver's plan fingerprint; process() renders one shard with
ViewRenderer.render_shard (atomic shard + sidecar), skipping complete ones, so a
retried bundle or a re-run resumes like the local runner. Only shard names travel
through the pipeline, not millions of work units.

cfg.out must be a POSIX path seen by the driver and every worker (local disk for
the DirectRunner; a shared mount such as NFS or a GCS FUSE mount on a cluster).

DirectRunner default: Beam's FnApiRunner in `multi_processing` mode, whose
workers are fresh `python -m apache_beam.runners.worker.sdk_worker_main`
subprocesses (fork + exec), so no worker inherits the driver's TensorFlow or a
GL context. `in_memory` / `multi_threading` would render inside the driver
process and are refused once TensorFlow is imported there (llvmpipe crashes).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import sys
import time
from pathlib import Path

from tfrecords_tools import folder_lock, writer
from tfrecords_tools.configlib import ConfigError
from tfrecords_tools.plan import ShardTask, make_shards
from tfrecords_tools.render_config import RenderConfig
from tfrecords_tools.runners import discard_if_empty, plan_render, write_manifest

_root = logging.getLogger()
_level, _ = _root.level, _root.setLevel(logging.ERROR)  # Beam warns at import about unused GCP clients
try:
    import apache_beam as beam
    from apache_beam.metrics import Metrics
    from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
finally:
    _root.setLevel(_level)


_DIRECT = ("DirectRunner", "SwitchingDirectRunner", "FnApiRunner")


def plan_digest(tasks: list[ShardTask]) -> str:
    """A fingerprint of the work units: workers re-plan and must get the same."""
    h = hashlib.blake2b(digest_size=16)
    for t in tasks:
        h.update(repr((t.name, t.units)).encode())
    return h.hexdigest()


class RenderShardFn(beam.DoFn):
    """One ViewRenderer (one GL context, cached meshes) per DoFn instance; one shard per element."""

    def __init__(self, cfg: RenderConfig, digest: str):
        self.cfg, self.digest = cfg, digest
        self.views = Metrics.counter("gmcml_render", "views")
        self.shards = Metrics.counter("gmcml_render", "shards")

    def setup(self):
        from tfrecords_tools.worker import ViewRenderer
        self.worker = ViewRenderer(self.cfg)
        tasks = make_shards(self.worker.source.models(), self.cfg)
        if plan_digest(tasks) != self.digest:
            raise RuntimeError(f"this worker lists other meshes in {self.cfg.meshes!r} than the driver "
                               "(another folder content or path?); every worker must see the same files")
        self.tasks = {t.name: t for t in tasks}

    def process(self, name: str):
        out = Path(self.cfg.out)
        if writer.is_complete(out, name):  # a retried bundle, or another run, finished it
            yield name
            return
        meta = self.worker.render_shard(self.tasks[name], out)
        self.views.inc(meta["records"])
        self.shards.inc()
        yield name  # not the metadata: Beam's coder refuses the non-UTF-8 paths it may name

    def teardown(self):
        worker = getattr(self, "worker", None)
        if worker is not None:
            worker.renderer.release()


def _write_manifest_step(_count, out: str, names: list[str], header: dict) -> int:
    write_manifest(Path(out), names, header)
    return len(names)


def pipeline_options(cfg: RenderConfig, beam_options: list[str], shards: int) -> PipelineOptions:
    """Defaults for a local run, then the user's KEY=VALUE flags (which win)."""
    flags = ["--runner=DirectRunner", f"--direct_num_workers={min(cfg.workers or os.cpu_count() or 1, max(1, shards))}",
             "--direct_running_mode=multi_processing", "--default_sdk_harness_log_level=ERROR"]
    for opt in beam_options:
        key, sep, value = opt.partition("=")
        key = key.strip().lstrip("-")
        if not key:
            raise ConfigError(f"--beam-option {opt!r}: expected KEY=VALUE (a PipelineOptions flag)")
        flags.append(f"--{key}={value}" if sep else f"--{key}")
    options = PipelineOptions(flags)
    unknown = options.get_all_options(retain_unknown_options=True).keys() - options.get_all_options().keys()
    if unknown:
        # Not an error: runner-specific flags (e.g. Flink's) register only once that runner is imported.
        print(f"gmcml-tf: beam options not known to this Beam install: {', '.join(sorted(unknown))}",
              file=sys.stderr)
    return options


def _runner(options: PipelineOptions):
    """The runner to use: Beam's FnApiRunner for the DirectRunner, so the worker options apply."""
    name = options.view_as(StandardOptions).runner or "DirectRunner"
    if name not in _DIRECT:
        return name, None
    # Beam's DirectRunner tries the Prism runner first (a Go binary it downloads, which runs
    # Python DoFns in the driver by default); the FnApiRunner honours direct_num_workers and
    # direct_running_mode, and in multi_processing mode its workers are fresh subprocesses.
    mode = options.view_as(DirectOptions).direct_running_mode
    if mode != "multi_processing" and "tensorflow" in sys.modules:
        raise ConfigError(f"direct_running_mode={mode} would render in this process, which has imported "
                          "TensorFlow (Mesa's llvmpipe crashes there); use multi_processing")
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle
    # as Beam's DirectRunner does: the options reach the workers (log level, ...)
    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    info = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    return "DirectRunner", fn_runner.FnApiRunner(provision_info=info)


def render_beam(cfg: RenderConfig, beam_options: list[str] = (), show_progress: bool = True) -> dict:
    """Render everything `cfg` asks for into cfg.out on Beam; returns the manifest (as runners.render).
    The driver holds cfg.out against a second render into it, as the local runner does."""
    existed = Path(cfg.out).exists()
    with folder_lock.hold(cfg.out):
        return _render_beam(cfg, list(beam_options), show_progress, existed)


def _render_beam(cfg: RenderConfig, beam_options: list[str], show_progress: bool, existed: bool) -> dict:
    plan = plan_render(cfg)  # the header (manifest) keeps cfg.out as given, like the local runner
    out = Path(cfg.out).absolute()
    worker_cfg = dataclasses.replace(cfg, out=str(out))  # workers may run in another directory
    names = [t.name for t in plan.tasks]
    todo = [t.name for t in plan.todo]
    options = pipeline_options(cfg, list(beam_options), len(todo))
    runner_name, runner = _runner(options)
    workers = options.view_as(DirectOptions).direct_num_workers if runner is not None else runner_name
    t0 = time.perf_counter()
    if todo:
        if show_progress:
            print(f"beam ({runner_name}, {workers} workers): rendering {len(todo)} of {len(names)} shards, "
                  f"{plan.todo_views} views -> {out}", file=sys.stderr)
        with beam.Pipeline(runner=runner, options=options) as p:
            _ = (p | "Shards" >> beam.Create(todo)
                   | "Spread" >> beam.Reshuffle()
                   | "Render" >> beam.ParDo(RenderShardFn(worker_cfg, plan_digest(plan.tasks)))
                   | "AllDone" >> beam.combiners.Count.Globally()
                   | "Manifest" >> beam.Map(_write_manifest_step, str(out), names, plan.header))
        manifest = json.loads((out / "manifest.json").read_text())  # written by the last step
    else:
        manifest = write_manifest(out, names, plan.header)
    discard_if_empty(out, manifest, existed)
    seconds = time.perf_counter() - t0
    manifest["_run"] = {"rendered_views": plan.todo_views, "seconds": round(seconds, 2),
                        "views_per_s": round(plan.todo_views / seconds, 1) if plan.todo_views else 0.0,
                        "workers": workers, "runner": f"beam {runner_name}",
                        "shards_skipped_complete": len(names) - len(todo)}
    return manifest

