"""Paired comparison of two configs fitted on the same seeds.

A seed fixes the render order, the initial weights and the augmentation draws, so the
seed-to-seed spread of one config (often ± 4 points on real photos) is largely shared by
a second config fitted on that seed. The difference per seed cancels that shared part;
its mean with a paired-t 95 % interval says whether one config beats the other beyond
what the seeds explain. With 3-5 seeds a bootstrap interval would be too narrow (it
cannot see spread that the few seeds did not show); the t interval widens for them.
"""
from __future__ import annotations

import math
import statistics


def paired_difference(row: dict[int, float], reference: dict[int, float], level: float = 0.95) -> dict | None:
    """`row − reference` over the seeds both have: mean, paired-t interval (None with one
    seed), per-seed differences and how many seeds each side wins. None when no seed is shared."""
    seeds = sorted(s for s in row if s in reference and row[s] is not None and reference[s] is not None)
    if not seeds:
        return None
    diffs = [row[s] - reference[s] for s in seeds]
    mean = statistics.fmean(diffs)
    low = high = None
    if len(diffs) > 1:
        from scipy.stats import t
        half = t.ppf(0.5 + level / 2, len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs))
        low, high = mean - half, mean + half
    return {"n": len(seeds), "seeds": seeds, "diffs": diffs, "mean": mean, "low": low, "high": high,
            "level": level, "method": "paired t", "wins": sum(d > 0 for d in diffs),
            "losses": sum(d < 0 for d in diffs), "ties": sum(d == 0 for d in diffs)}


def by_seed(column: dict | None) -> dict[int, float]:
    """A table column {values, seeds} as {seed: value}."""
    if not column:
        return {}
    return dict(zip(column.get("seeds") or range(len(column["values"])), column["values"]))


def verdict(d: dict | None) -> str:
    """A few words a reader can quote: which side the interval puts the difference on."""
    if d is None:
        return "no shared seed"
    if d["low"] is None:
        return "one seed: no interval"
    if d["low"] > 0:
        return "better (interval above 0)"
    if d["high"] < 0:
        return "worse (interval below 0)"
    return "not resolved (interval spans 0)"


def cell(d: dict | None) -> str:
    """`+2.1 [−0.4, +4.6], 4/5 seeds` in points, for a markdown table."""
    if d is None:
        return "–"
    pts = lambda v: f"{100 * v:+.1f}".replace("-", "−")  # noqa: E731
    interval = f" [{pts(d['low'])}, {pts(d['high'])}]" if d["low"] is not None else ""
    return f"{pts(d['mean'])}{interval}, wins {d['wins']}/{d['n']}"
