"""The Python API, for notebooks and scripts: the CLI's main commands as typed functions.

    import gmcml_tf as gm
    gm.render("configs/quickstart.yaml", out="data_out/quickstart", seed=0)
    run = gm.fit("configs/zigzagnet.yaml", data="data_out/quickstart", workdir="runs/zigzagnet", seed=0)
    result = gm.evaluate(run, "../shared/data/real_dev")
    gm.export(run, "saved_models/zigzagnet")

Each function does what the command of the same name does (same config files, `--set`
style overrides, seeds, resume, folder locks) and raises the same `UserError`s with the
same one-line messages, instead of printing them and exiting.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from gmcml_tf.config import FIT_SECTIONS, load_config
from gmcml_tf.training.workdir import Run, load_run

__all__ = ["render", "fit", "load_run", "evaluate", "adapt", "export", "Run"]

PathLike = str | Path


def _flags(section: str, **values) -> list[str]:
    return [f"{section}.{k}={json.dumps(str(v) if isinstance(v, Path) else v)}"
            for k, v in values.items() if v is not None]


def render(config: PathLike | None = None, *, out: PathLike | None = None, meshes: str | None = None,
           seed: int | None = None, overrides: Sequence[str] = (), progress: bool = False) -> dict:
    """Render the `render:` section of `config` (defaults if None) into `out`; returns the
    manifest (counts per split and category, skipped meshes, versions). Re-running the same
    call resumes: complete shards are kept."""
    from tfrecords_tools.runners import render as run_render
    cfg = load_config(config, [*overrides, *_flags("render", out=out, meshes=meshes, seed=seed)],
                      short=("render",)).render
    return run_render(cfg, show_progress=progress)


def fit(config: PathLike | None = None, *, data: PathLike | None = None, workdir: PathLike | None = None,
        seed: int | None = None, overrides: Sequence[str] = (), progress: bool = False) -> Run:
    """Train `config` on the shards in `data` into `workdir` (resuming a run found there);
    returns the finished run, its training summary in `run.summary`."""
    from gmcml_tf.training.train import fit as run_fit
    cfg = load_config(config, [*overrides, *_flags("train", data=data, workdir=workdir, seed=seed)],
                      short=FIT_SECTIONS)
    summary = run_fit(cfg, cfg.train.workdir, show_progress=progress)
    run = load_run(summary["workdir"])
    run.summary = summary
    return run


def _run(run: Run | PathLike) -> Run:
    return run if isinstance(run, Run) else load_run(run)


def evaluate(run: Run | PathLike, photos: str, *, restrict_to_present: bool = False,
             fit: str | None = None, flip: bool | None = None, save: bool = True,
             holdout_of: PathLike | None = None) -> dict:
    """Accuracy of `run` on labelled real photos (`DIR/<category>/*.jpg` or `pascal3d:DIR`):
    overall, mean per class, per class, nearest-neighbour, confusion matrix. With `save`, the
    JSON and figures go to RUN/evaluation/ as `gmcml-tf evaluate` writes them. `holdout_of`:
    only the photos `adapt(..., holdout=F)` held out of that adapted run."""
    from gmcml_tf.evaluation.evaluate import evaluate as run_evaluate
    from gmcml_tf.evaluation.evaluate import evaluate_and_save
    from gmcml_tf.evaluation.real_photos import photos_for
    run = _run(run)
    photo_set = photos_for(photos, run.classes, run.config.eval.aliases)
    if holdout_of is not None:
        from gmcml_tf.adaptation.photos import held_out_only
        photo_set = held_out_only(photo_set, holdout_of)
    kwargs = dict(restrict_to_present=restrict_to_present, fit=fit, flip=flip)
    if save:
        return evaluate_and_save(run, photo_set, **kwargs)[0]
    return run_evaluate(run, photo_set, **kwargs)


def adapt(run: Run | PathLike, photos: PathLike, out: PathLike, *, method: str = "self-training",
          seed: int = 0, holdout: float | None = None, classes: Sequence[str] | None = None,
          resume: bool = False, progress: bool = False) -> Run:
    """Adapt `run` to the unlabelled photos below `photos` into the new run folder `out`
    (docs/adaptation.md); returns it, with adapt.json's record in `run.summary`."""
    from gmcml_tf.adaptation.runner import adapt as run_adapt
    record = run_adapt(_run(run).path, photos, out, method=method, seed=seed, holdout=holdout,
                       classes=list(classes or []), resume=resume,
                       say=None if progress else (lambda line: None))
    adapted = load_run(out)
    adapted.summary = record
    return adapted


def export(run: Run | PathLike, out: PathLike, *, version: int | None = None, fit: str | None = None,
           flip: bool | None = None) -> dict:
    """Write `run` as SavedModel version `out/<version>` (next free by default) for TF Serving,
    with its model card; returns the path, size, model card path and the reload check."""
    from gmcml_tf.serving.export import export_run
    return export_run(_run(run), out, fit=fit, version=version, flip=flip)
