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
import statistics
from pathlib import Path

from tfrecords_tools.errors import UserError
from tfrecords_tools.runners import git_commit
from tfrecords_tools.writer import write_bytes_atomic, write_json_atomic

RESULTS = Path("docs/results")


class ReportError(UserError):
    """A run or summary the report cannot use; the message names the file."""


def _json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ReportError(f"{path}: missing") from None
    except (OSError, ValueError) as e:
        raise ReportError(f"{path}: unreadable ({e})") from None


def summarize(run_dir: str | Path, table: str, row: str, eval_json: str | Path | None = None,
              fit_seconds: float | None = None, note: str = "") -> dict:
    """The summary of one evaluated run (see the module text)."""
    from gmcml_tf.bench import machine
    from gmcml_tf.training.workdir import load_run
    from gmcml_tf.training.workdir import adaptation_of
    run = load_run(run_dir, load_model=False)
    ev = _json(Path(eval_json) if eval_json else Path(run_dir) / "evaluation" / "real.json")
    adapted = adaptation_of(run_dir)
    trained = Path(adapted["adapted_from"]) if adapted else Path(run_dir)
    history = _json(trained / "history.json")
    last = (history.get("eval") or [{}])[-1]
    present = ev.get("present_classes_only") or {}
    data = Path(run.config.train.data)
    for where in (data, trained.resolve().parents[1] / data):  # as given, or beside runs/
        if (where / "manifest.json").is_file():
            manifest = _json(where / "manifest.json")
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
    flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in (record.get("settings") or {}).items()
                     if k in ("rounds", "steps_per_round", "learning_rate"))
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


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def _mean_std(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{100 * values[0]:.1f}"
    return f"**{100 * statistics.fmean(values):.1f} ± {100 * statistics.stdev(values):.1f}**"


def table_markdown(name: str, summaries: list[dict]) -> str:
    """One table: a line per row label (in the order first seen, summaries sorted by file name)."""
    rows: dict[str, list[dict]] = {}
    for s in summaries:
        rows.setdefault(s["row"], []).append(s)
    cpus = sorted({s["machine"]["processor"] + (" (AVX-512)" if "avx512f" in s["machine"]["flags"] else "")
                   for s in summaries})
    lines = [f"CPU: {'; '.join(cpus)}. Percentages; mean ± std over the seeds listed. \"present\": "
             "argmax over the classes the photos have; \"all\": over every class of the model.", "",
             "| row | seeds | mean per-class, present | mean per-class, all | accuracy, present | synthetic val "
             "| M' on val renders: IoU / hue names class "
             "| per seed (present mean per-class) | per class (first seed) | fit min | classes | val split |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, group in rows.items():
        group = sorted(group, key=lambda s: s["seed"])
        m = [g["metrics"] for g in group]
        per_class = " / ".join(f"{k} {_pct(v)}" for k, v in m[0]["per_class"].items())
        fits = [g["fit_seconds"] for g in group if g.get("fit_seconds")]
        lines.append(
            f"| {label} | {', '.join(str(g['seed']) for g in group)} "
            f"| {_mean_std([x['present_mean_per_class'] for x in m])} "
            f"| {_mean_std([x['mean_per_class'] for x in m])} "
            f"| {_mean_std([x['present_accuracy'] for x in m])} "
            f"| {_mean_std([x['synthetic_val_accuracy'] for x in m])} "
            f"| {_mprime(m)} "
            f"| {' / '.join(_pct(x['present_mean_per_class']) for x in m)} | {per_class} "
            f"| {', '.join(f'{f / 60:.1f}' for f in fits) or '–'} | {len(group[0]['data']['classes'])} "
            f"| {group[0]['data']['val_split'] or 'by model'} |")
    notes = [f"- {label}: {g[0]['note']}" for label, g in rows.items() if g[0].get("note")]
    sources = sorted({(s["photos"]["source"], s["photos"]["n"], s["photos"]["fit"]) for s in summaries}, key=str)
    lines += ["", *notes, *(["", "Photos:"] if sources else []),
              *[f"- `{src}`: {n} photos, fitting `{fit}`" for src, n, fit in sources],
              "", f"Each row's runs: `docs/results/{name}/*.json` (config, seed, data, commit, CPU, command)."]
    return "\n".join(lines)


def _mprime(metrics: list[dict]) -> str:
    """Mean M' silhouette IoU / hue accuracy over the seeds that have them (gmcml_tf.evaluation.reconstruction)."""
    scored = [x["mprime_on_renders"] for x in metrics if x.get("mprime_on_renders")]
    if not scored:
        return "–"
    return (f"{statistics.fmean(x['silhouette_iou'] for x in scored):.2f} / "
            f"{100 * statistics.fmean(x['hue_accuracy'] for x in scored):.0f} %")


def legacy_markdown(name: str, table: dict) -> str:
    cells = lambda row: "| " + " | ".join(row) + " |"  # noqa: E731
    return "\n".join([cells(table["columns"]), "|" + "---|" * len(table["columns"]),
                      *map(cells, table["rows"]), "",
                      f"<sub>From `docs/results/legacy/{name}.json`: {table['provenance']}</sub>"])


def _legacy_row(results: Path, table: str, starts: str) -> list[str]:
    t = _json(results / "legacy" / f"{table}.json")
    for row in t["rows"]:
        if row[0].startswith(starts):
            return row
    raise ReportError(f"{results / 'legacy' / table}.json: no row starting {starts!r}")


def glance_markdown(results: Path) -> str:
    """The README's table: the headline rows of the legacy tables and every own-objects row."""
    def strip(cell: str) -> str:
        return cell.replace("**", "")
    head = _legacy_row(results, "headline", "**mean ± std, 3 seeds**")
    alone = _legacy_row(results, "library_alone", "**mean ± std, 3 seeds**")
    demo = _legacy_row(results, "library_alone", "`make demo`")
    lines = ["| what was trained | 5-class mean per-class | all-class mean per-class |", "|---|---|---|"]
    pair = _by_row(results / "gm_cml_vs_zigzagnet") if (results / "gm_cml_vs_zigzagnet").is_dir() else {}
    if pair:   # the runs of this release, paired by seed (docs/results.md), over 0.1.0's transcribed table
        for label, group in pair.items():
            m = [g["metrics"] for g in group]
            lines.append(f"| 12 PASCAL3D+ classes, shared meshes + procedural models: {label}, {len(group)} seeds "
                         f"| {strip(_mean_std([x['present_mean_per_class'] for x in m]))} "
                         f"| {strip(_mean_std([x['mean_per_class'] for x in m]))} (12-way) |")
    else:
        lines.append(f"| 12 PASCAL3D+ classes: shared meshes + procedural models, 3 seeds | {strip(head[1])} "
                     f"| {strip(head[2])} (12-way) |")
    lines.append(f"| the same, shared meshes alone, 3 seeds | {strip(alone[1])} | {strip(alone[2])} (12-way) |")
    demos = list(_by_row(results / "demo").values()) if (results / "demo").is_dir() else []
    if not demos:
        lines.append(f"| `make demo`: procedural models only, GM-CML, one run | {demo[1]} | {demo[2]} (12-way) |")
    for prefix, group in [("`make demo`: ", g) for g in demos] + [
            ("own objects: ", g) for g in _by_row(results / "own_objects").values()]:
        m = [g["metrics"] for g in group]
        n = len(group[0]["data"]["classes"])
        runs = f"{len(group)} seed{'s' * (len(group) > 1)}" if prefix != "`make demo`: " else \
            f"{len(group)} run{'s' * (len(group) > 1)}"
        lines.append(f"| {prefix}{group[0]['row']}, {runs} "
                     f"| {strip(_mean_std([x['present_mean_per_class'] for x in m]))} "
                     f"| {strip(_mean_std([x['mean_per_class'] for x in m]))} ({n}-way) |")
    lines += _adaptation_glance(results / "adaptation")
    return "\n".join(lines)


def _adaptation_glance(folder: Path) -> list[str]:
    """The glance table's adaptation rows: before → after, paired by seed."""
    rows = adaptation_pairs(folder.name, [_json(p) for p in sorted(folder.glob("*.json"))])
    out = []
    for label, pairs in rows.items():
        cells = []
        for key in ("present_mean_per_class", "mean_per_class"):
            b, a = [p[0]["metrics"][key] for p in pairs], [p[1]["metrics"][key] for p in pairs]
            cells.append(f"{100 * statistics.fmean(b):.1f} → {100 * statistics.fmean(a):.1f} "
                         f"({100 * statistics.fmean(y - x for x, y in zip(b, a)):+.1f})")
        n = len(pairs[0][1]["data"]["classes"])
        out.append(f"| `adapt` on {pairs[0][1]['adaptation']['images']} unlabelled photos, scored on "
                   f"{pairs[0][1]['photos']['n']} others: {label}, {len(pairs)} seed{'s' * (len(pairs) > 1)} "
                   f"| {cells[0]} | {cells[1]} ({n}-way) |")
    return out


def _by_row(folder: Path) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for p in sorted(folder.glob("*.json")):
        s = _json(p)
        rows.setdefault(s["row"], []).append(s)
    return rows


def categories_markdown(bench: dict) -> str:
    """`gmcml-tf bench categories` JSON as a table."""
    m = bench["machine"]
    lines = ["| classes | models | views | render s | ms a view (vs first) | fit s (vs first) | palette: min ΔE "
             "| L_gen of the nearest wrong colour | mask pixels nearest own class | M' nearest own class (chance) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in bench["rows"]:
        lines.append(f"| {r['classes']} | {r['models']} | {r['views']} | {r['render_s']} "
                     f"| {r['render_ms_per_view']} ({r['render_ms_per_view_vs_first']}×) "
                     f"| {r['fit_s']} ({r['fit_s_vs_first']}×) | {r['palette']['min_delta_e']} "
                     f"| {r['palette']['min_rgb_sq']} | {100 * r['mask_pixels_nearest_own_class']:.2f} % "
                     f"| {100 * r['reconstruction_nearest_own_class']:.1f} % ({100 * r['chance']:.1f} %) |")
    lines += ["", f"<sub>From `docs/results/bench/categories.json`: {m['processor']}, {m['cpus']} cores "
              f"({', '.join(m['flags'])}); {bench['models_per_class']} models a class, "
              f"{bench['views_per_model']} views a model at {bench['size']} px, {bench['steps']} training steps "
              "of configs/gm_cml.yaml per fit.</sub>"]
    return "\n".join(lines)


def adaptation_pairs(name: str, summaries: list[dict]) -> dict[str, list[tuple[dict, dict]]]:
    """{row label: [(the base run's summary, the adapted run's), ...]}, by seed; the base is
    found by its run folder's name, so path maps do not break the pairing."""
    base = {Path(s["run"]).name: s for s in summaries if "adaptation" not in s}
    rows: dict[str, list[tuple[dict, dict]]] = {}
    for s in summaries:
        if "adaptation" in s:
            before = base.get(Path(s["adaptation"]["adapted_from"]).name)
            if before is None:
                raise ReportError(f"docs/results/{name}: no summary of {s['adaptation']['adapted_from']}, "
                                  f"the run {s['run']} adapted")
            rows.setdefault(s["row"], []).append((before, s))
    for pairs in rows.values():
        pairs.sort(key=lambda p: p[0]["seed"])
    return rows


def adaptation_markdown(name: str, summaries: list[dict]) -> str:
    """Adapted runs against the runs they adapted, paired seed by seed on the same photos."""
    rows = adaptation_pairs(name, summaries)
    cpus = sorted({s["machine"]["processor"] + (" (AVX-512)" if "avx512f" in s["machine"]["flags"] else "")
                   for s in summaries})
    lines = [f"CPU: {'; '.join(cpus)}. Percentages, mean over the seeds; Δ: after − before, paired by seed "
             "(the worst seed in brackets). \"present\": argmax over the classes the photos have; \"all\": "
             "over every class of the model.", "",
             "| row | seeds | present: before → after | Δ (worst seed) | all: before → after | Δ (worst seed) "
             "| class that fell most, present (worst seed and class) | photos adapted on / scored | adapt min |",
             "|---|---|---|---|---|---|---|---|---|"]
    mean = statistics.fmean
    for label, pairs in rows.items():
        cells = []
        for key in ("present_mean_per_class", "mean_per_class"):
            b = [p[0]["metrics"][key] for p in pairs]
            a = [p[1]["metrics"][key] for p in pairs]
            if None in a or None in b:
                cells += ["–", "–"]
                continue
            d = [y - x for x, y in zip(b, a)]
            cells += [f"{100 * mean(b):.1f} → {100 * mean(a):.1f}", f"**{100 * mean(d):+.1f}** ({100 * min(d):+.1f})"]
        falls, single = {}, []
        for before, after in pairs:
            pb, pa = before["metrics"].get("present_per_class") or {}, after["metrics"].get("present_per_class") or {}
            for c in pb.keys() & pa.keys():
                falls.setdefault(c, []).append(pa[c] - pb[c])
                single.append((pa[c] - pb[c], c, before["seed"]))
        worst = min(falls.items(), key=lambda kv: mean(kv[1])) if falls else None
        worst_one = min(single) if single else None
        one = "" if worst_one is None else f" (seed {worst_one[2]}: {worst_one[1]} {100 * worst_one[0]:+.1f})"
        ad = pairs[0][1]["adaptation"]
        secs = [p[1]["adaptation"]["seconds"] for p in pairs if p[1]["adaptation"].get("seconds")]
        lines.append(f"| {label} | {', '.join(str(p[0]['seed']) for p in pairs)} | {cells[0]} | {cells[1]} "
                     f"| {cells[2]} | {cells[3]} "
                     f"| {'–' if worst is None else f'{worst[0]} {100 * mean(worst[1]):+.1f}'}"
                     f"{one} "
                     f"| {ad['images']} / {pairs[0][1]['photos']['n']} "
                     f"| {', '.join(f'{x / 60:.1f}' for x in secs) or '–'} |")
    notes = [f"- {label}: {p[0][1]['note']}" for label, p in rows.items() if p[0][1].get("note")]
    lines += ["", *notes, "", f"Each row's runs: `docs/results/{name}/*.json` (config, seeds, the adapt command, "
              "per-round lines, commit, CPU)."]
    return "\n".join(lines)


def photos_plot(name: str, results: Path, write: bool) -> str:
    """`NAME/plot`: the gain on the scored photos against the number of photos adapted on, for
    an adaptation table whose rows differ in that number; the PNG is written beside the
    summaries' folder (docs/results/NAME.png) unless only checking."""
    folder = results / name
    rows = adaptation_pairs(name, [_json(p) for p in sorted(folder.glob("*.json"))])
    def gains(key: str) -> list[tuple[int, float]]:
        return sorted((pairs[0][1]["adaptation"]["images"],
                       100 * statistics.fmean(a["metrics"][key] - b["metrics"][key] for b, a in pairs))
                      for pairs in rows.values())
    points, every = gains("present_mean_per_class"), gains("mean_per_class")
    png = results / f"{name}.png"
    if write:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(4.2, 2.8), dpi=110)
        for pts, label in ((points, "present classes"), (every, "all classes")):
            ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=label)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel("unlabelled photos adapted on")
        ax.set_ylabel("Δ mean per-class (points)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(png)
        plt.close(fig)
    cells = ", ".join(f"{n} photos {d:+.1f}" for n, d in points)
    return f"![gain against photos](results/{name}.png)\n\nΔ, present classes: {cells}."


def adapt_bench_markdown(bench: dict) -> str:
    """`gmcml-tf bench adapt` JSON as a table."""
    m = bench["machine"]
    lines = ["| method | photos | wall s | CPU s | seconds a round | target |", "|---|---|---|---|---|---|"]
    for r in bench["rows"]:
        target = ("≤ ~600 s: " + ("**met**" if r["wall_s"] <= 600 else "**missed**")) \
            if r["method"] == "self-training" else ""
        lines.append(f"| {r['method']} | {r['photos']} | {r['wall_s']} | {r['cpu_s']} "
                     f"| {', '.join(str(x) for x in r.get('round_s', [])) or '–'} | {target} |")
    lines += ["", f"<sub>From `docs/results/bench/adapt.json`: {m['processor']}, {m['cpus']} cores "
              f"({', '.join(m['flags'])}); `{bench['workdir']}` on {bench['count']} photos "
              f"({bench['distinct_photos']} distinct) of `{bench['photos']}`"
              + (f"; {bench['note']}" if bench.get("note") else "") + ".</sub>"]
    return "\n".join(lines)


def slug(label: str) -> str:
    """A row label as a block name can carry it: `ZigzagNet alone` -> `zigzagnet_alone`."""
    return re.sub(r"\W+", "_", label.lower()).strip("_")


PAIRED_KEYS = (("present_mean_per_class", "mean per-class, present"), ("mean_per_class", "mean per-class, all"),
               ("synthetic_val_accuracy", "synthetic val"))


def paired_markdown(name: str, summaries: list[dict], reference: str) -> str:
    """`NAME/paired/REF`: every row of NAME minus the row whose label's slug is REF, paired by
    seed (gmcml_tf.evaluation.paired: mean, 95 % paired-t interval, seeds won)."""
    from gmcml_tf.evaluation import paired
    rows: dict[str, dict[int, dict]] = {}
    for s in summaries:
        rows.setdefault(s["row"], {})[s["seed"]] = s["metrics"]
    ref = next((label for label in rows if slug(label) == reference), None)
    if ref is None:
        raise ReportError(f"docs/results/{name}: no row {reference!r} to pair against "
                          f"(rows: {', '.join(slug(r) for r in rows)})")
    lines = [f"Each row minus **{ref}**, paired by seed, in points: the mean difference, its 95 % paired-t "
             "interval and the seeds the row wins. A difference counts where the interval leaves 0 out.", "",
             "| row | seeds | " + " | ".join(label for _, label in PAIRED_KEYS) + " | verdict (present) |",
             "|---|---|" + "---|" * len(PAIRED_KEYS) + "---|"]
    for label, by_seed in rows.items():
        if label == ref:
            continue
        diffs = [paired.paired_difference({k: m[key] for k, m in by_seed.items()},
                                          {k: m[key] for k, m in rows[ref].items()}) for key, _ in PAIRED_KEYS]
        seeds = diffs[0]["seeds"] if diffs[0] else []
        lines.append(f"| {label} | {', '.join(map(str, seeds)) or '–'} | "
                     + " | ".join(paired.cell(d) for d in diffs) + f" | {paired.verdict(diffs[0])} |")
    return "\n".join(lines + ["", f"From `docs/results/{name}/*.json`."])


def render_block(name: str, results: Path, write: bool = False) -> str:
    """The markdown of one `<!-- results:NAME -->` block."""
    if "/paired/" in name:
        table, _, reference = name.partition("/paired/")
        return paired_markdown(table, [_json(p) for p in sorted((results / table).glob("*.json"))], reference)
    if name.endswith("/plot"):
        return photos_plot(name[: -len("/plot")], results, write)
    if name == "bench/categories":
        return categories_markdown(_json(results / "bench" / "categories.json"))
    if name == "bench/adapt":
        return adapt_bench_markdown(_json(results / "bench" / "adapt.json"))
    if name == "glance":
        return glance_markdown(results)
    if name.startswith("legacy/"):
        return legacy_markdown(name[len("legacy/"):], _json(results / f"{name}.json"))
    summaries = [_json(p) for p in sorted((results / name).glob("*.json"))]
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
