"""The ablation table: a row's columns as mean ± std over its seeds, the rows against a
reference row paired by seed (gmcml_tf.evaluation.paired), and the table as markdown
(`OUT/table.md`; `ablate.py` fits the rows and writes it).
"""
from __future__ import annotations

import statistics

from gmcml_tf.evaluation import paired

COLUMNS = [("synthetic_val_accuracy", "synthetic val acc."), ("real_accuracy", "real acc."),
           ("real_mean_per_class_accuracy", "real mean per-class"),
           ("real_present_accuracy", "real acc., present classes"),
           ("real_present_mean_per_class_accuracy", "real mean per-class, present classes"),
           ("nn_accuracy", "real NN acc."),
           ("mprime_silhouette_iou", "M' IoU, val renders"), ("mprime_hue_accuracy", "M' hue names class"),
           ("model_mb", "model MB"), ("train_images_per_s", "train images/s")]


def column(runs: list[dict], key: str) -> dict | None:
    """Mean ± std of one column over the seeds that have it, with each value's seed (for pairing)."""
    pairs = [(r["seed"], r[key]) for r in runs if r.get(key) is not None]
    if not pairs:
        return None
    values = [v for _, v in pairs]
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values, "seeds": [s for s, _ in pairs]}


def summary(runs: list[dict]) -> dict:
    return {k: column(runs, k) for k, _ in COLUMNS}


PAIRED_METRICS = ("real_present_mean_per_class_accuracy", "real_mean_per_class_accuracy", "synthetic_val_accuracy")


def paired_rows(rows: dict, reference: str) -> dict:
    """{row: {metric: paired difference against `reference`}} for every other row (not the audit)."""
    ref = rows[reference]
    return {name: {k: paired.paired_difference(paired.by_seed(row.get(k)), paired.by_seed(ref.get(k)))
                   for k in PAIRED_METRICS}
            for name, row in rows.items() if name not in (reference, "audit: backgrounds only")}


def _cell(v, pct: bool) -> str:
    if v is None:
        return "–"
    if pct:
        return f"{100 * v['mean']:.1f} ± {100 * v['std']:.1f}"
    return f"{v['mean']:.1f}"


def markdown(table: dict) -> str:
    head = "| config | seeds | " + " | ".join(label for _, label in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2)]
    for name, row in table["rows"].items():
        cells = [_cell(row.get(k), k.endswith(("accuracy", "_iou"))) for k, _ in COLUMNS]
        n = max((len(v["values"]) for v in row.values() if v), default=0)
        lines.append(f"| {name} | {n} | " + " | ".join(cells) + " |")
    if table.get("chance"):
        chance = (f"; {len(table['classes'])}-way chance = {100 * table['chance']:.1f}%; the largest class holds "
                  f"{100 * table['majority_share_val']:.1f}% of the val renders (always guessing it "
                  f"scores that: the background audit should stay near it). Synthetic val: {table['val_split']}")
    else:
        chance = f" (no manifest at {table['data']}: chance not known)"
    return "\n".join([
        f"Accuracies in % as mean ± std over the seeds run{chance}.",
        f"Renders: `{table['data']}`; real photos: `{table['photos']}`"
        f"{' (argmax over present classes)' if table['restrict_to_present'] else ''}.", "", *lines, "",
        *paired_markdown(table)])


def paired_markdown(table: dict) -> list[str]:
    """The rows against the reference, seed by seed (empty without a reference)."""
    if not table.get("paired"):
        return []
    labels = dict(COLUMNS)
    lines = [f"Against `{table['reference']}`, paired by seed: row − reference in points, mean with its "
             "95 % paired-t interval, and the seeds the row wins. A difference counts where the interval "
             "leaves 0 out.", "",
             "| config | " + " | ".join(labels[k] for k in PAIRED_METRICS) + " | verdict (first column) |",
             "|" + "---|" * (len(PAIRED_METRICS) + 2)]
    for name, diffs in table["paired"].items():
        cells = [paired.cell(diffs.get(k)) for k in PAIRED_METRICS]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {paired.verdict(diffs.get(PAIRED_METRICS[0]))} |")
    return [*lines, ""]
