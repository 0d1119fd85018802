"""The markdown of the results blocks, from run summaries (docs/results/NAME/*.json) and
benchmark JSON: a table of runs (mean ± std over seeds), adapted runs against their bases,
one row label against another paired by seed, the README's glance table, the benchmark
tables and the transcribed legacy tables. `report.build` puts them into the documents.
"""
from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

from tfrecords_tools.errors import UserError


class ReportError(UserError):
    """A run or summary the report cannot use; the message names the file."""


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ReportError(f"{path}: missing") from None
    except (OSError, ValueError) as e:
        raise ReportError(f"{path}: unreadable ({e})") from None


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
    t = read_json(results / "legacy" / f"{table}.json")
    for row in t["rows"]:
        if row[0].startswith(starts):
            return row
    raise ReportError(f"{results / 'legacy' / table}.json: no row starting {starts!r}")


GLANCE_MARK = "(default)"   # an adaptation row with this in its label is in the README's glance table


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
    """The glance table's adaptation rows, before → after paired by seed: the rows of `adapt`'s
    defaults only (GLANCE_MARK in the label); docs/adaptation.md has every row."""
    rows = adaptation_pairs(folder.name, [read_json(p) for p in sorted(folder.glob("*.json"))])
    out = []
    for label, pairs in rows.items():
        if GLANCE_MARK not in label:
            continue
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
        s = read_json(p)
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
    rows = adaptation_pairs(name, [read_json(p) for p in sorted(folder.glob("*.json"))])
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
              + (f"; {bench['note']}" if bench.get("note") else "") + "."
              + "".join(f" {r['method']}: {_settings_text(r['settings'])}." for r in bench["rows"] if r.get("settings"))
              + "</sub>"]
    return "\n".join(lines)


def _settings_text(settings: dict) -> str:
    """Settings as `key=value`, in SelfTrainingConfig's names: `smoothing_to=teacher, min_share=0.005`."""
    return ", ".join(f"{k}={v}" for k, v in settings.items())


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
