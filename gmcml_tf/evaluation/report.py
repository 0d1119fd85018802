"""Results tables made from their runs: `gmcml-tf report summarize | build`.

    gmcml-tf report summarize RUN --table own_objects --row "renamed library, GM-CML" \\
        [--eval RUN/evaluation/real.json] [--out docs/results/own_objects/NAME.json]
    gmcml-tf report build [--check]

`summarize` turns a finished, evaluated run into a small JSON file (its config, seed, data,
val split, the evaluation's numbers, fit time, the CPU and the commit). `build` fills every
`<!-- results:NAME -->` ... `<!-- /results -->` block of README.md and docs/*.md: NAME a
folder of summaries under docs/results/ (one line per row label, mean ± std over its seeds
and each seed's value), or `legacy/NAME` for a table of docs/results/legacy/NAME.json (the
tables of releases whose runs were not kept, transcribed by script, with their provenance).
Nothing in those tables is typed by hand; `--check` (and a test) fails when a committed file
is not what the JSON gives.
"""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from gmcml_tf.adaptation.pseudo_labels import mode as pseudo_label_mode
from gmcml_tf.evaluation.report_tables import (ReportError, adapt_bench_markdown, adaptation_markdown,
                                               categories_markdown, glance_markdown, legacy_markdown,
                                               paired_markdown, photos_plot, read_json, table_markdown)
from tfrecords_tools.runners import git_commit
from tfrecords_tools.writer import write_bytes_atomic, write_json_atomic

RESULTS = Path("docs/results")
__all__ = ["RESULTS", "ReportError", "summarize", "render_block", "build", "map_paths", "write_summary",
           "table_markdown", "adaptation_markdown"]


def summarize(run_dir: str | Path, table: str, row: str, eval_json: str | Path | None = None,
              fit_seconds: float | None = None, note: str = "") -> dict:
    """The summary of one evaluated run (see the module text)."""
    from gmcml_tf.bench import machine
    from gmcml_tf.training.workdir import load_run
    from gmcml_tf.training.workdir import adaptation_of
    run = load_run(run_dir, load_model=False)
    ev = read_json(Path(eval_json) if eval_json else Path(run_dir) / "evaluation" / "real.json")
    adapted = adaptation_of(run_dir)
    trained = Path(adapted["adapted_from"]) if adapted else Path(run_dir)
    history = read_json(trained / "history.json")
    last = (history.get("eval") or [{}])[-1]
    present = ev.get("present_classes_only") or {}
    data = Path(run.config.train.data)
    for where in (data, trained.resolve().parents[1] / data):  # as given, or beside runs/
        if (where / "manifest.json").is_file():
            manifest = read_json(where / "manifest.json")
            break
    else:
        manifest = {}
    cfg = run.config
    return {
        "table": table, "row": row, "note": note, "seed": cfg.train.seed, "run": str(run_dir),
        "config": json.loads(json.dumps(dataclasses.asdict(cfg))),   # the run's resolved config
        "model": {"recon": cfg.model.recon, "classifier": cfg.model.classifier,
                  "classifier_input": cfg.model.classifier_input, "noise": cfg.train.noise.enabled,
                  "image_size": cfg.model.image_size,
                  "steps": sum(s.epochs * (s.steps_per_epoch or 0) for s in cfg.train.stages)},
        "data": {"dir": cfg.train.data, "mesh_source": (manifest.get("source") or {}).get("spec"),
                 "size": manifest.get("size"), "classes": run.class_names, "val_split": run.val_split,
                 "views": {k: v.get("records") for k, v in (manifest.get("splits") or {}).items()}},
        "photos": {"source": ev.get("source"), "n": ev.get("n"), "fit": ev.get("fit"), "flip": ev.get("flip"),
                   "restrict_to_present": ev.get("restrict_to_present"),
                   "transductive": bool(ev.get("transductive"))},
        "metrics": {
            "present_mean_per_class": present.get("mean_per_class_accuracy", ev.get("mean_per_class_accuracy")
                                                  if ev.get("restrict_to_present") else None),
            "present_accuracy": present.get("accuracy", ev.get("accuracy") if ev.get("restrict_to_present") else None),
            "mean_per_class": None if ev.get("restrict_to_present") else ev.get("mean_per_class_accuracy"),
            "accuracy": None if ev.get("restrict_to_present") else ev.get("accuracy"),
            "per_class": {k: v["accuracy"] for k, v in (ev.get("per_class") or {}).items() if v.get("n")},
            "present_per_class": present.get("per_class") or (
                {k: v["accuracy"] for k, v in (ev.get("per_class") or {}).items() if v.get("n")}
                if ev.get("restrict_to_present") else None),
            "synthetic_val_accuracy": last.get("accuracy"),
            "mprime_on_renders": ev.get("reconstruction_on_renders")},
        "fit_seconds": fit_seconds if fit_seconds is not None else history.get("fit_seconds"),
        "machine": machine(),
        # the code that trained (fit records it), else the checkout this summary was made in
        "commit": history.get("commit") or git_commit(),
        "commit_of": "the fit" if history.get("commit") else "the summary",
        "command": f"gmcml-tf fit --config {run_dir}/config.yaml --workdir {run_dir}; "
                   f"gmcml-tf evaluate --workdir {run_dir} --real {ev.get('source')}",
        **({"adaptation": _adaptation(run_dir, adapted, ev)} if adapted else {}),
    }


def _adaptation(run_dir, record: dict, ev: dict) -> dict:
    """What an adapted run's summary adds: the method, the photos, the time, the per-round lines,
    and the command that made it."""
    seen = ev.get("transductive") or ev.get("adapted") or {}
    settings = record.get("settings") or {}
    flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in settings.items()
                     if k in ("rounds", "steps_per_round", "learning_rate", "min_share", "cluster_temperature"))
    if settings:   # self-training; runs made before the keys: a 0.02 bar, uniform smoothing
        flags += "" if "min_share" in settings else " --min-share 0.02"
        flags += f" --smoothing-to {settings.get('smoothing_to', 'uniform')}"
        flags += f" --pseudo-labels {pseudo_label_mode(settings)}"
    if record.get("classes"):
        flags += f" --classes {','.join(record['classes'])}"
    flags = flags.strip()
    return {"method": record["method"], "adapted_from": record["adapted_from"], "photos": record["photos"],
            "images": record["images"], "held_out": record.get("held_out", 0), "seconds": record.get("seconds"),
            "classes": record.get("classes"), "seed": record.get("seed"),
            "evaluated_photos_seen": seen.get("seen"),
            "rounds": [{k: r.get(k) for k in ("round", "selected", "mean_confidence", "flipped", "collapse")}
                       for r in record.get("rounds") or []],
            "command": f"gmcml-tf adapt --workdir {record['adapted_from']} --photos {record['photos']} "
                       f"--out {run_dir} --method {record['method']} --seed {record.get('seed')}"
                       + (f" --holdout {record['holdout']}" if record.get("holdout") else "")
                       + (f" {flags}" if flags else "")}


def render_block(name: str, results: Path, write: bool = False) -> str:
    """The markdown of one `<!-- results:NAME -->` block."""
    if "/paired/" in name:
        table, _, reference = name.partition("/paired/")
        return paired_markdown(table, [read_json(p) for p in sorted((results / table).glob("*.json"))], reference)
    if name.endswith("/plot"):
        return photos_plot(name[: -len("/plot")], results, write)
    if name == "bench/categories":
        return categories_markdown(read_json(results / "bench" / "categories.json"))
    if name == "bench/adapt":
        return adapt_bench_markdown(read_json(results / "bench" / "adapt.json"))
    if name == "glance":
        return glance_markdown(results)
    if name.startswith("legacy/"):
        return legacy_markdown(name[len("legacy/"):], read_json(results / f"{name}.json"))
    summaries = [read_json(p) for p in sorted((results / name).glob("*.json"))]
    if not summaries:
        raise ReportError(f"{results / name}: no run summaries (gmcml-tf report summarize RUN --table {name})")
    if any("adaptation" in s for s in summaries):
        return adaptation_markdown(name, summaries)
    return table_markdown(name, summaries)


_BLOCK = re.compile(r"<!-- results:(?P<name>[\w/.-]+) -->.*?<!-- /results -->", re.S)


def build(root: str | Path = ".", check: bool = False) -> list[str]:
    """Fill (or with `check`, compare) the results blocks of README.md and docs/*.md under
    `root`; returns the files written, or with `check` the ones that differ."""
    root = Path(root)
    if not (root / "README.md").is_file() and not (root / "docs").is_dir():
        raise ReportError(f"{root}: no README.md or docs/ to fill (run it in the repository, or pass --root)")
    results = root / RESULTS
    changed = []
    for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        if not path.is_file():
            continue
        text = path.read_text()
        new = _BLOCK.sub(lambda m: f"<!-- results:{m.group('name')} -->\n"
                                   f"{render_block(m.group('name'), results, write=not check)}"
                                   "\n<!-- /results -->", text)
        if new != text:
            changed.append(str(path))
            if not check:
                write_bytes_atomic(path, new.encode())
    return changed


def map_paths(obj, path_map: dict[str, str]):
    """`obj` with every string that starts with a key of `path_map` rewritten to its value
    (e.g. a scratch folder to the repo-relative path the docs' commands use)."""
    if isinstance(obj, dict):
        return {k: map_paths(v, path_map) for k, v in obj.items()}
    if isinstance(obj, list):
        return [map_paths(v, path_map) for v in obj]
    if isinstance(obj, str):
        for old, new in path_map.items():
            obj = obj.replace(old, new)
    return obj


def write_summary(summary: dict, out: str | Path) -> str:
    write_json_atomic(Path(out), summary)
    return str(out)
