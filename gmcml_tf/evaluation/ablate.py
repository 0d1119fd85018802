"""`gmcml-tf ablate`: the paper's Tables I-III on our data (docs/method.md §7).

Each config of `configs/` is trained on the same shards for every seed, evaluated on the
synthetic val split and on the real photos, and summarised as mean ± std over seeds:
with real classes of a few dozen photos one seed can differ from another by several
points, so a difference counts only beyond that spread. Runs live in
`OUT/<config>/[seed-K/]`, so `gmcml-tf evaluate` works on them afterwards, and a
re-run resumes: an unfinished fit goes on from its checkpoint, and a run already trained with
the same resolved config and evaluated on the same photos keeps its row without a fit or an
evaluation (so halves of a table run apart are gathered by one re-run with every row).
With `reference`, every other row is also compared with it seed by seed
(gmcml_tf.evaluation.paired: mean difference, paired-t 95 % interval, seeds won).

The background-leakage audit trains the classifier on the backgrounds alone — the exact
crop behind each view, regenerated from its seed (gmcml_tf.evaluation.background_audit; blacking
out the object would leave its silhouette to classify); it must score near chance on
renders, otherwise the backgrounds carry the label (the authors' per-category folders did).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from gmcml_tf.config import FIT_SECTIONS, load_config
from gmcml_tf.evaluation.ablate_table import markdown, paired_rows, summary
from gmcml_tf.vocabulary import SET_SIZE
from tfrecords_tools import folder_lock
from tfrecords_tools.writer import write_json_atomic

AUDIT_FOLDER = "audit_background_only"
CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def parse_row(spec: str) -> tuple[str, list[str]]:
    """`NAME[:KEY=VALUE...]` -> (config name, its overrides): one ablation row per switched
    lever, e.g. `gm_cml:augment.enabled=false` or `zigzagnet:balanced=false:label_smoothing=0`."""
    name, *overrides = spec.strip().split(":")
    for o in overrides:
        if "=" not in o or not o.partition("=")[0].strip():
            from tfrecords_tools.configlib import ConfigError
            raise ConfigError(f"--configs {spec!r}: expected NAME:KEY=VALUE, got {o!r}")
    return name, overrides


def row_folder(spec: str) -> str:
    """The runs folder of a row: the spec itself, `:` (a path separator on some systems) as `__`."""
    return spec.strip().replace(":", "__").replace("/", "_")


def config_path(name: str) -> Path:
    p = Path(name)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        return p
    p = CONFIG_DIR / f"{name}.yaml"
    if not p.is_file():
        from tfrecords_tools.configlib import ConfigError
        known = sorted(q.stem for q in CONFIG_DIR.glob("*.yaml"))
        raise ConfigError(f"--configs: no config {name!r} (configs/{name}.yaml); known: {', '.join(known)}")
    return p


def _images_per_step(cfg) -> float:
    t = cfg.train
    steps = [(s.epochs * (s.steps_per_epoch or 1), (s.batch_size or t.batch_size) * (SET_SIZE if s.triplets else 1))
             for s in t.stages]
    total = sum(n for n, _ in steps)
    return sum(n * b for n, b in steps) / total if total else 0.0


def train_and_evaluate(cfg, workdir: Path, photos, restrict_to_present: bool, dataset_fn=None,
                       show_progress: bool = False) -> dict:
    """Fit `cfg` into `workdir` (unless a finished fit there has its model and training), then
    evaluate it with `cfg.eval` on `photos`; the row is also written to workdir/ablation_row.json."""
    from gmcml_tf.evaluation.evaluate import evaluate_and_save
    from gmcml_tf.training.train import _write_config, fit
    from gmcml_tf.training.workdir import load_run
    row = fitted_row(cfg, workdir)
    if row is None:
        # fit's progress: a bar with an estimate on a terminal, a line per epoch in a log
        summary = fit(cfg, workdir, show_progress=show_progress, dataset_fn=dataset_fn)
        row = {"synthetic_val_accuracy": summary["val_accuracy"], "model_mb": summary["model_mb"],
               "train_images_per_s": round(summary["steps"] * _images_per_step(cfg) / summary["seconds"], 1)
               if summary["seconds"] and not summary["resumed"] else None}
    else:  # only the eval section or the photos changed: the run's config records the new eval
        _write_config(dataclasses.replace(cfg, model=_same_fit(cfg, workdir).model), workdir)
    row["workdir"], row["seed"] = str(workdir), cfg.train.seed
    run = load_run(workdir) if photos is not None or row["model_mb"] is None else None
    if row["model_mb"] is None:
        row["model_mb"] = run.model.size_mb()["model_mb"]
    if photos is not None:
        real, _ = evaluate_and_save(run, photos, restrict_to_present=restrict_to_present)
        row.update(real_accuracy=real["accuracy"], real_mean_per_class_accuracy=real["mean_per_class_accuracy"],
                   nn_accuracy=real["nn_accuracy"], real_n=real["n"],
                   real_present_accuracy=real.get("present_classes_only", {}).get("accuracy"),
                   real_present_mean_per_class_accuracy=real.get("present_classes_only", {}).get(
                       "mean_per_class_accuracy"),
                   mprime_silhouette_iou=(real.get("reconstruction_on_renders") or {}).get("silhouette_iou"),
                   mprime_hue_accuracy=(real.get("reconstruction_on_renders") or {}).get("hue_accuracy"))
    row.update(photos=getattr(photos, "source", None), restrict_to_present=restrict_to_present)
    write_json_atomic(workdir / "ablation_row.json", row)
    return row


def _same_fit(cfg, workdir: Path):
    """The resolved config of a finished fit in `workdir` with the model and training of `cfg`
    (wherever it was written), or None."""
    if not (workdir / "model.keras").exists() or not (workdir / "config.yaml").exists():
        return None
    done = load_config(workdir / "config.yaml")
    where = lambda c: dataclasses.replace(c.train, workdir="")  # noqa: E731
    # fit records the class count it took from the shards; a config that leaves it out means the same
    model = cfg.model if cfg.model.num_classes is not None else dataclasses.replace(
        cfg.model, num_classes=done.model.num_classes)
    return done if done.model == model and where(done) == where(cfg) else None


def fitted_row(cfg, workdir: Path) -> dict | None:
    """The training columns of a finished fit of `cfg` in `workdir`, or None (fit it)."""
    if _same_fit(cfg, workdir) is None:
        return None
    path = workdir / "ablation_row.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    if "synthetic_val_accuracy" not in old:  # fitted outside ablate: from its history
        evals = json.loads((workdir / "history.json").read_text()).get("eval", [])
        old["synthetic_val_accuracy"] = evals[-1]["accuracy"] if evals else None
    return {k: old.get(k) for k in ("synthetic_val_accuracy", "model_mb", "train_images_per_s")}


def finished_row(cfg, workdir: Path, photos, restrict_to_present: bool) -> dict | None:
    """The row of a run in `workdir` trained with `cfg`, evaluated with its eval section on the
    same photos the same way, or None (then it is fitted and/or evaluated)."""
    path = workdir / "ablation_row.json"
    done = _same_fit(cfg, workdir) if path.exists() else None
    if done is None or done.eval != cfg.eval:
        return None
    row = json.loads(path.read_text())
    same_photos = (row.get("photos"), row.get("restrict_to_present")) == (getattr(photos, "source", None),
                                                                          restrict_to_present)
    # rows from before M' was scored are evaluated again (no refit) to gain those columns
    scored = "mprime_silhouette_iou" in row or cfg.model.recon == "none"
    return row if same_photos and scored else None


HPARAM_METRICS = (("real_present_mean_per_class_accuracy", "real photos: mean per-class, present classes"),
                  ("real_mean_per_class_accuracy", "real photos: mean per-class, all classes"),
                  ("real_accuracy", "real photos: accuracy, all classes"),
                  ("synthetic_val_accuracy", "renders of held-out models: accuracy"))


def write_hparams(logdir: Path, name: str, seed: int, cfg, row: dict) -> None:
    """One row of TensorBoard's HParams dashboard: this config and seed, its settings and
    its real-photo and synthetic accuracies (logdir/<name>/seed-<seed>)."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp
    hparams = {"config": name, "seed": seed, "recon": cfg.model.recon, "classifier": cfg.model.classifier,
               "classifier_input": cfg.model.classifier_input, "noise": cfg.train.noise.enabled,
               "augment": cfg.train.augment.enabled, "balanced": cfg.train.balanced,
               "kl_free_bits": cfg.train.kl.free_bits, "label_smoothing": cfg.train.label_smoothing}
    with tf.summary.create_file_writer(str(logdir / name / f"seed-{seed}")).as_default():
        hp.hparams(hparams, trial_id=f"{name}/seed-{seed}")
        for key, _ in HPARAM_METRICS:
            if row.get(key) is not None:
                tf.summary.scalar(key, row[key], step=0)


def write_hparams_config(logdir: Path) -> None:
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp
    with tf.summary.create_file_writer(str(logdir)).as_default():
        hp.hparams_config(hparams=[hp.HParam(k) for k in (
            "config", "seed", "recon", "classifier", "classifier_input", "noise", "augment", "balanced",
            "kl_free_bits", "label_smoothing")],
            metrics=[hp.Metric(k, display_name=d) for k, d in HPARAM_METRICS])


def ablate(configs: list[str], data: str, photos, out: str, seeds: int = 1,
           restrict_to_present: bool = False, overrides: list[str] | None = None,
           audit: bool = True, table_only: bool = False, reference: str | None = None) -> dict:
    """Fit and evaluate every row (see the module text); `table_only`: no fit, the table of
    the rows already finished under `out`, whatever their number of seeds."""
    if reference is not None and reference not in configs:
        from tfrecords_tools.configlib import ConfigError
        raise ConfigError(f"--reference {reference!r} is not one of --configs ({', '.join(configs)})")
    with folder_lock.hold(out):  # a second ablate into the same folder is refused
        if table_only:
            rows = collect(out, [*configs, *(["audit: backgrounds only"] if audit else [])])
            if not rows:
                from tfrecords_tools.configlib import ConfigError
                raise ConfigError(f"{out}: no finished row of {', '.join(configs)} (no ablation_row.json)")
            if reference is not None and reference not in rows:
                from tfrecords_tools.configlib import ConfigError
                raise ConfigError(f"{out}: --reference {reference!r} has no finished row")
            return _write_table(rows, data, photos, Path(out), None, restrict_to_present, reference)
        return _ablate(configs, data, photos, Path(out), seeds, restrict_to_present, overrides, audit, reference)


def _ablate(configs, data, photos, out: Path, seeds, restrict_to_present, overrides, audit, reference) -> dict:
    base = list(overrides or []) + [f"train.data={json.dumps(str(data))}"]
    rows = {}
    write_hparams_config(out / "tensorboard")
    specs = [(spec, *parse_row(spec)) for spec in configs]
    for _, name, row_overrides in specs:   # every config and override checked before any fit
        load_config(config_path(name), base + row_overrides, short=FIT_SECTIONS)
    total, done = len(specs) * seeds + (seeds if audit else 0), 0
    for spec, name, row_overrides in specs:
        path = config_path(name)
        runs = []
        for seed in range(seeds):
            done += 1
            cfg = load_config(path, base + row_overrides + [f"train.seed={seed}"], short=FIT_SECTIONS)
            workdir = out / row_folder(spec) / (f"seed-{seed}" if seeds > 1 else "")
            row = finished_row(cfg, workdir, photos, restrict_to_present)
            print(f"[ablate] run {done}/{total}: {spec} seed {seed} -> {workdir}"
                  f"{' (finished: row kept)' if row else ''}", flush=True)
            row = row or train_and_evaluate(cfg, workdir, photos, restrict_to_present, show_progress=True)
            runs.append(dict(row, seed=seed))
            write_hparams(out / "tensorboard", spec, seed, cfg, runs[-1])
        rows[spec] = summary(runs)
    if audit:
        rows["audit: backgrounds only"] = _audit(data, out, base, seeds, first=done + 1, total=total)
    return _write_table(rows, data, photos, out, seeds, restrict_to_present, reference)


def _write_table(rows: dict, data, photos, out: Path, seeds, restrict_to_present, reference=None) -> dict:
    table = {"data": str(data), "photos": getattr(photos, "source", None), "seeds": seeds,
             "restrict_to_present": restrict_to_present, "rows": rows, **_render_facts(data),
             "reference": reference, "paired": paired_rows(rows, reference) if reference else None}
    write_json_atomic(out / "table.json", table)
    md = out / "table.md"
    md.write_text(markdown(table))
    from gmcml_tf.evaluation.plots import ablation_bars
    png = ablation_bars(rows, out / "table.png", table["paired"], reference)
    return {"table_json": str(out / "table.json"), "table_md": str(md), "table_png": png, **table}


def _render_facts(data) -> dict:
    """The render's classes, chance (1/N), the largest class's share of the val renders and
    how val was split; empty when its manifest is gone (--table-only after a clean-up)."""
    from gmcml_tf.data.shards import DataError, read_classes, read_manifest, val_split_note
    try:
        classes, m = read_classes(data), read_manifest(data)
    except DataError:
        return {"classes": None, "chance": None}
    val = m.get("splits", {}).get("val", {})
    majority = max(val.get("per_category", {}).values(), default=0) / max(val.get("records", 0), 1)
    return {"classes": list(classes.names), "chance": 1 / len(classes),
            "majority_share_val": round(majority, 4), "val_split": val_split_note(data)}


def _audit(data, out: Path, base: list[str], seeds: int, first: int = 1, total: int | None = None) -> dict:
    """ZigzagNet alone, softmax on the pure backgrounds of the renders."""
    from gmcml_tf.evaluation.background_audit import dataset_fn_for
    from gmcml_tf.training.train_config import LossWeights
    runs = []
    for seed in range(seeds):
        cfg = load_config(config_path("zigzagnet"), base + [f"train.seed={seed}"], short=FIT_SECTIONS)
        # the config's main softmax stage (most steps), on backgrounds alone
        main = max((s for s in cfg.train.stages if s.losses.softmax > 0),
                   key=lambda s: s.epochs * (s.steps_per_epoch or 1))
        stage = dataclasses.replace(main, name="background_only", triplets=False,
                                    close_only=False, background=True,
                                    losses=LossWeights(enc=0, gen=0, pair=0, tri=0, softmax=1))
        cfg.train.stages = [stage]
        workdir = out / AUDIT_FOLDER / (f"seed-{seed}" if seeds > 1 else "")
        print(f"[ablate] run {first + seed}/{total or seeds}: background-leakage audit seed {seed} -> {workdir}",
              flush=True)
        runs.append(dict(train_and_evaluate(cfg, workdir, None, False, dataset_fn_for(data), show_progress=True),
                         seed=seed))
    return summary(runs)


def collect(out: str | Path, configs: list[str]) -> dict:
    """Rows from the `ablation_row.json` of finished runs under OUT (e.g. after an interruption)."""
    rows = {}
    for spec in configs:
        folder = AUDIT_FOLDER if spec == "audit: backgrounds only" else row_folder(spec)
        paths = sorted(Path(out, folder).glob("**/ablation_row.json"))
        runs = [_with_seed(json.loads(p.read_text()), p) for p in paths]
        if runs:
            rows[spec] = summary(runs)
    return rows


def _with_seed(row: dict, path: Path) -> dict:
    """A row's seed: recorded in it, else from its folder (seed-K), else 0 (a one-seed table)."""
    if row.get("seed") is None:
        name = path.parent.name
        row["seed"] = int(name[5:]) if name.startswith("seed-") and name[5:].isdigit() else 0
    return row
