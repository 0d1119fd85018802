"""`gmcml-tf adapt`: write a new run folder adapted to a folder of unlabelled photos.

The new run is a run like any other (config.yaml, classes.json, model.keras) plus
adapt.json (the method, its settings, seed, per-round lines, the photos' count) and
adapt_photos.json (the content hashes of the photos it learnt from and of the photos held
out), by which `evaluate` says TRANSDUCTIVE. Interrupted (even by kill -9), it resumes with
--resume from its last finished round: checkpoints and adapt_progress.json live in the
folder until it is complete.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np

from gmcml_tf.adaptation import photos as P
from gmcml_tf.adaptation import pseudo_labels as PL
from gmcml_tf.adaptation.self_training import SelfTrainingConfig
from gmcml_tf.evaluation.real_photos import PhotoError
from gmcml_tf.training.workdir import ADAPT_FILE, load_run
from tfrecords_tools import folder_lock
from tfrecords_tools.writer import write_json_atomic

METHODS = ("self-training", "adabn")
DEFAULT_METHOD = "self-training"
PROGRESS_FILE = "adapt_progress.json"


def adapt(workdir: str | Path, photos: str | Path, out: str | Path, *, method: str = DEFAULT_METHOD,
          seed: int = 0, fit: str | None = None, holdout: float | None = None, resume: bool = False,
          renders: str | None = None, settings: SelfTrainingConfig | None = None,
          classes: list[str] | None = None, batch_size: int = 64, say=None) -> dict:
    """Adapt run `workdir` to the photos below `photos`; returns adapt.json's record + "workdir"."""
    say = say or (lambda line: print(line, flush=True))   # a line a round, also in a log file
    if method not in METHODS:
        raise PhotoError(f"--method {method!r}: one of {', '.join(METHODS)}")
    if settings is not None and not 0 <= settings.min_share < 1:
        raise PhotoError(f"--min-share {settings.min_share}: a share of the predictions, from 0 to below 1")
    if settings is not None and not settings.cluster_temperature >= 0:
        raise PhotoError(f"--cluster-temperature {settings.cluster_temperature}: 0 or a positive number")
    if settings is not None and settings.smoothing_to not in ("uniform", "teacher"):
        raise PhotoError(f"--smoothing-to {settings.smoothing_to!r}: uniform or teacher")
    if renders not in (None, "none") and not (Path(renders) / "manifest.json").is_file():
        raise PhotoError(f"--renders {renders}: not a render folder (no manifest.json); name the run's "
                         "shards, or none to adapt on the photos alone")
    out = Path(out)
    if out.exists() and not resume:
        raise PhotoError(f"{out} exists; adapt writes a new run folder (pick another --out, or --resume "
                         "to finish an interrupted one)")
    if resume and (out / ADAPT_FILE).is_file() and (out / "model.keras").is_file():
        say(f"{out} is already adapted (nothing to resume)")
        return {**json.loads((out / ADAPT_FILE).read_text()), "workdir": str(out)}
    import keras
    # before the model is loaded: its dropout layers draw their seeds as they are built
    keras.utils.set_random_seed(seed)
    run = load_run(workdir)
    allowed = None if not classes else _labels_of(run, classes)
    if holdout is not None:
        paths, held = P.holdout_split(photos, holdout, seed)
    else:
        paths, held = P.list_photos(photos), []
    paths, skipped = P.readable(paths)
    least = P.MIN_PHOTOS[method]
    if len(paths) < least:
        raise PhotoError(f"{photos}: {len(paths)} readable photos" + (" to adapt on" if held else "")
                         + f"; --method {method} needs at least {least}")
    if method == "adabn" and batch_size < 8:
        raise PhotoError(f"--batch-size {batch_size}: batch statistics need at least 8 photos a batch")
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock.hold(out):
        return _adapt(run, photos, paths, held, skipped, out, method, seed, fit or run.fit,
                      renders, settings or SelfTrainingConfig(), allowed, batch_size, holdout, say)


def _labels_of(run, names: list[str]) -> list[int]:
    """The run's labels of `names` (matched as class folders are), or a one-line error."""
    from tfrecords_tools.classes import key
    index = {key(n): i for i, n in enumerate(run.class_names)}
    unknown = [n for n in names if key(n) not in index]
    if unknown:
        raise PhotoError(f"--classes: {', '.join(unknown)} not among the run's classes "
                         f"({', '.join(run.class_names[:12])}{', ...' if len(run.class_names) > 12 else ''})")
    return sorted({index[key(n)] for n in names})


def _adapt(run, photos, paths, held, skipped, out, method, seed, fit, renders, cfg, allowed, batch_size,
           holdout, say) -> dict:
    import keras
    import tensorflow as tf

    t0 = time.perf_counter()
    hashes = [P.content_hash(p) for p in paths]
    progress_path = out / PROGRESS_FILE
    progress = json.loads(progress_path.read_text()) if progress_path.is_file() else None
    if progress and progress["photo_hashes"] != hashes:
        raise PhotoError(f"{out}: the photos of {photos} changed since this adaptation started; "
                         "resume with the same photos or adapt into a new --out")
    changed = _changed_settings(progress, cfg) if progress else []
    if changed:
        raise PhotoError(f"{out}: this adaptation started with other settings ({'; '.join(changed)}); "
                         "resume with the same settings")
    views, undecodable = _load_views(paths, run.config.model.image_size, fit)
    skipped.update({paths[i]: "undecodable image" for i in undecodable})
    keep = [i for i in range(len(paths)) if i not in set(undecodable)]
    if len(keep) < P.MIN_PHOTOS[method]:
        raise PhotoError(f"{photos}: {len(keep)} decodable photos; --method {method} needs at least "
                         f"{P.MIN_PHOTOS[method]}")
    if skipped:
        say(f"skipped {len(skipped)} unreadable photos: " + ", ".join(list(skipped)[:5])
            + (", ..." if len(skipped) > 5 else ""))
    keras.utils.set_random_seed(seed)   # again: training draws from where the seed puts them, not
                                        # from wherever building the model left the generators
    model = run.model
    record = {"adapted_from": str(run.path), "photos": str(photos), "images": len(keep),
              "held_out": len(held), "holdout": holdout, "skipped": skipped, "fit": fit, "flip": run.flip, "seed": seed,
              "method": method, "classes": None if allowed is None else [run.class_names[i] for i in allowed],
              "transductive": True, "tensorflow": tf.__version__}
    if method == "adabn":
        from gmcml_tf.adaptation.self_training import reestimate_batch_norm
        order = np.random.default_rng(seed).permutation(len(views))   # batches mix the folders
        reestimate_batch_norm(model, views[order], batch_size)
        record["what"] = "AdaBN: batch-norm moving statistics re-estimated on the photos"
    else:
        from gmcml_tf.adaptation.loop import self_train
        data = renders if renders is not None else run.config.train.data
        if data == "none" or not (Path(data) / "manifest.json").is_file():
            if data != "none":
                say(f"the run's renders ({data}) are not at hand: adapting on the photos alone "
                    "(--renders DIR to name them)")
            data = None
        cfg = cfg.for_photos(len(views))
        rounds = self_train(run, model, views, out, cfg, seed, data, progress, hashes, say, allowed)
        record.update(what="self-training: clustering-refined, class-balanced pseudo-labels, renders "
                      "with their labels beside (docs/adaptation.md)", renders=data,
                      settings=cfg.__dict__, rounds=rounds)
    record["seconds"] = round(time.perf_counter() - t0, 1)
    record["photos_hash"] = hashlib.sha256("".join(sorted(hashes[i] for i in keep)).encode()).hexdigest()
    _write_run(run, model, out, record, [hashes[i] for i in keep], held)
    return {**record, "workdir": str(out)}


def _changed_settings(progress: dict, cfg: SelfTrainingConfig) -> list[str]:
    """The self-training settings a resume would change, as flags (the started value first);
    steps a round left to their default are resolved from the photos, so not compared."""
    # a progress file written before settings were kept: its teacher targets say the smoothing
    started = progress.get("settings") or {
        "smoothing_to": "uniform" if progress.get("teacher") is None else "teacher"}
    now = dataclasses.asdict(cfg)
    changed = [f"--{k.replace('_', '-')} {started[k]}, not {now[k]}" for k in sorted(started)
               if k in now and k not in ("cluster", "agree") and started[k] != now[k]
               and not (k == "steps_per_round" and now[k] is None)]
    was, now_mode = PL.mode(started), PL.mode(now)
    return changed + ([f"--pseudo-labels {was}, not {now_mode}"] if was != now_mode else [])


def _load_views(paths: list[str], size: int, fit: str) -> tuple[np.ndarray, list[int]]:
    """uint8 photos (N, V, S, S, 3), V the fittings of `fit`; the indices that did not decode
    are left out of the array and returned."""
    from gmcml_tf.evaluation.evaluate import photo_dataset
    from gmcml_tf.evaluation.real_photos import Photo, PhotoSet
    ds = photo_dataset(PhotoSet("adapt", [Photo(p, 0, "") for p in paths]), size, fit, 64)
    idx, chunks = [], []
    for i, x in ds:
        x = x.numpy()
        chunks.append(np.round(np.clip(x if x.ndim == 5 else x[:, None], 0, 1) * 255).astype(np.uint8))
        idx.extend(i.numpy().tolist())
    bad = sorted(set(range(len(paths))) - set(idx))
    return (np.concatenate(chunks) if chunks else np.zeros((0, 1, size, size, 3), np.uint8)), bad


def _write_run(run, model, out: Path, record: dict, adapted: list[str], held: list[str]) -> None:
    """Everything a finished run folder holds; adapt.json last, the mark of a finished folder."""
    shutil.copy2(run.path / "config.yaml", out / "config.yaml")
    if (run.path / "classes.json").is_file():
        shutil.copy2(run.path / "classes.json", out / "classes.json")
    parent = P.adapted_hashes(run.path)   # adapting an adapted run: it has seen both folders
    write_json_atomic(out / P.HASHES_FILE, {
        "adapted": sorted(set(adapted) | set(parent)),
        "held_out": sorted({P.content_hash(p) for p in held})})
    tmp = out / "model.partial.keras"   # Keras insists on the suffix
    model.save(tmp)
    tmp.replace(out / "model.keras")
    write_json_atomic(out / ADAPT_FILE, record)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    (out / PROGRESS_FILE).unlink(missing_ok=True)
