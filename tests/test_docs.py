"""The README and docs/ as a reader meets them: links that resolve, pages that say what they
cover, a short README, and results tables that are what their JSON gives."""
from __future__ import annotations

import json

import pytest
import re
import unicodedata

from conftest import REPO

PAGES = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = "".join(c for c in text if c.isalnum() or c in " -" or unicodedata.category(c).startswith("L"))
    return text.replace(" ", "-")


def _anchors(path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"(?m)^#+ (.+)$", path.read_text())}


def test_every_relative_link_and_anchor_resolves():
    broken = []
    for page in PAGES:
        for target in _LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target):        # http(s), mailto
                continue
            file, _, anchor = target.partition("#")
            dest = (page.parent / file).resolve() if file else page
            if not dest.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken


def test_the_readme_is_short_and_each_docs_page_says_what_it_covers():
    assert len((REPO / "README.md").read_text().splitlines()) <= 300
    for page in sorted((REPO / "docs").glob("*.md")):
        lines = page.read_text().splitlines()
        assert lines[0].startswith("# "), page.name
        first = next(line for line in lines[1:] if line.strip())
        assert not first.startswith(("#", "|", "```", "<!--")), f"{page.name} opens without a sentence"


def test_the_results_blocks_are_what_their_json_gives():
    from gmcml_tf.evaluation.report import build
    assert build(REPO, check=True) == []


def test_a_summary_table_is_the_mean_and_spread_of_its_seeds(tmp_path):
    from gmcml_tf.evaluation.report import build, table_markdown
    def summary(seed, value):
        return {"table": "t", "row": "mine, GM-CML", "note": "", "seed": seed,
                "data": {"classes": ["a", "b"], "val_split": ""},
                "photos": {"source": "p", "n": 10, "fit": "stretch"},
                "metrics": {"present_mean_per_class": value, "mean_per_class": value, "present_accuracy": value,
                            "per_class": {"a": 1.0, "b": 0.0}, "synthetic_val_accuracy": 0.9},
                "fit_seconds": 60.0, "machine": {"processor": "cpu", "flags": ["avx512f"]}}
    md = table_markdown("t", [summary(1, 0.7), summary(0, 0.5)])
    assert "| mine, GM-CML | 0, 1 | **60.0 ± 14.1** |" in md and "| 50.0 / 70.0 |" in md
    (tmp_path / "docs/results/t").mkdir(parents=True)
    for seed, value in ((0, 0.5), (1, 0.7)):
        (tmp_path / f"docs/results/t/s{seed}.json").write_text(json.dumps(summary(seed, value)))
    (tmp_path / "README.md").write_text("x\n<!-- results:t -->\n<!-- /results -->\nkeep me\n"
                                        "<!-- results:t -->\nstale\n<!-- /results -->\ny\n")
    assert build(tmp_path, check=True) == [str(tmp_path / "README.md")]
    build(tmp_path)
    text = (tmp_path / "README.md").read_text()
    assert build(tmp_path, check=True) == []
    assert text.count("<!-- results:t -->") == 2 and text.count("60.0 ± 14.1") == 6
    assert "keep me" in text and "stale" not in text       # a block never runs into the next


def test_an_adaptation_table_pairs_each_adapted_run_with_its_own_base(tmp_path):
    """Δ is after − before of the same seed, the worst seed beside the mean, and the class
    that fell most is named, from the per-class accuracies over the present classes."""
    from gmcml_tf.evaluation.report import ReportError, adaptation_markdown
    def summary(run, seed, present, every, per_class, adapted_from=None):
        s = {"row": "GM-CML: self-training" if adapted_from else "GM-CML", "note": "", "seed": seed, "run": run,
             "photos": {"n": 100},
             "metrics": {"present_mean_per_class": present, "mean_per_class": every,
                         "present_per_class": per_class},
             "machine": {"processor": "cpu", "flags": []}}
        if adapted_from:
            s["adaptation"] = {"adapted_from": adapted_from, "images": 90, "seconds": 120.0}
        return s
    rows = [summary("runs/b0", 0, 0.70, 0.50, {"a": 0.9, "b": 0.5}),
            summary("runs/b1", 1, 0.60, 0.40, {"a": 0.8, "b": 0.4}),
            summary("x/a0", 0, 0.80, 0.52, {"a": 0.8, "b": 0.8}, "/elsewhere/b0"),
            summary("x/a1", 1, 0.62, 0.45, {"a": 0.75, "b": 0.54}, "runs/b1")]
    md = adaptation_markdown("t", rows)
    assert "| GM-CML: self-training | 0, 1 | 65.0 → 71.0 | **+6.0** (+2.0) | 45.0 → 48.5 | **+3.5** (+2.0) " \
           "| a -7.5 (seed 0: a -10.0) | 90 / 100 | 2.0, 2.0 |" in md
    with pytest.raises(ReportError, match="no summary of runs/b9"):
        adaptation_markdown("t", [*rows[:2], summary("x/a9", 0, 0.8, 0.5, {}, "runs/b9")])


def test_the_readme_glance_shows_only_the_default_adaptation_rows(tmp_path):
    """The README shows `adapt`'s defaults; every screened variant stays in docs/adaptation.md."""
    from gmcml_tf.evaluation.report_tables import _adaptation_glance
    folder = tmp_path / "adaptation"
    folder.mkdir()
    def write(name, row, run, present, adapted_from=None):
        s = {"row": row, "seed": 0, "run": run, "photos": {"n": 100}, "data": {"classes": list("abcde")},
             "metrics": {"present_mean_per_class": present, "mean_per_class": present / 2}}
        if adapted_from:
            s["adaptation"] = {"adapted_from": adapted_from, "images": 90}
        (folder / f"{name}.json").write_text(json.dumps(s))
    write("0", "ZigzagNet, unadapted", "runs/b0", 0.70)
    write("1", "ZigzagNet: self-training (default)", "runs/a0", 0.80, "runs/b0")
    write("2", "ZigzagNet: self-training, --min-share 0.005", "runs/a1", 0.90, "runs/b0")
    rows = _adaptation_glance(folder)
    assert rows == ["| `adapt` on 90 unlabelled photos, scored on 100 others: ZigzagNet: self-training (default), "
                    "1 seed | 70.0 → 80.0 (+10.0) | 35.0 → 40.0 (+5.0) (5-way) |"]


def test_a_paired_block_subtracts_the_reference_row_seed_by_seed(tmp_path):
    from gmcml_tf.evaluation.report import ReportError, render_block
    def summary(row, seed, present):
        return {"row": row, "seed": seed, "metrics": {"present_mean_per_class": present, "mean_per_class": None,
                                                      "synthetic_val_accuracy": 0.5}}
    folder = tmp_path / "pair"
    folder.mkdir()
    values = {("ZigzagNet alone", 0): 0.70, ("ZigzagNet alone", 1): 0.60, ("ZigzagNet alone", 2): 0.80,
              ("GM-CML", 0): 0.75, ("GM-CML", 2): 0.83}   # GM-CML has no seed 1: seeds 0 and 2 pair
    for (row, seed), v in values.items():
        (folder / f"{row[:3]}{seed}.json").write_text(json.dumps(summary(row, seed, v)))
    md = render_block("pair/paired/zigzagnet_alone", tmp_path)
    assert "minus **ZigzagNet alone**" in md
    assert "| GM-CML | 0, 2 | +4.0 [−8.7, +16.7], wins 2/2 | – | +0.0 [+0.0, +0.0], wins 0/2 " \
           "| not resolved (interval spans 0) |" in md
    with pytest.raises(ReportError, match="no row 'fcn'"):
        render_block("pair/paired/fcn", tmp_path)


def test_an_adapted_runs_command_carries_the_settings_it_was_made_with():
    """The summary's adapt command reproduces the run whatever the defaults become: its
    --smoothing-to, --min-share and --pseudo-labels (uniform, 0.02 and shot for runs recorded
    before the keys) and the --classes the user named."""
    from gmcml_tf.evaluation.report import _adaptation
    record = {"method": "self-training", "adapted_from": "runs/a", "photos": "photos", "images": 40,
              "seed": 0, "holdout": 0.5, "classes": ["car", "chair"],
              "settings": {"rounds": 4, "steps_per_round": 10, "learning_rate": 5e-4, "smoothing_to": "teacher"}}
    cmd = _adaptation("runs/b", record, {})["command"]
    assert cmd.endswith("--holdout 0.5 --rounds 4 --steps-per-round 10 --learning-rate 0.0005 "
                        "--min-share 0.02 --smoothing-to teacher --pseudo-labels shot --classes car,chair"), cmd
    del record["settings"]["smoothing_to"]
    record["settings"].update(min_share=0.005, cluster_temperature=0.2)
    record["classes"] = None
    assert _adaptation("runs/b", record, {})["command"].endswith(
        "--learning-rate 0.0005 --min-share 0.005 --cluster-temperature 0.2 --smoothing-to uniform "
        "--pseudo-labels shot")
    record["settings"].update(cluster=True, agree=True)
    assert _adaptation("runs/b", record, {})["command"].endswith("--pseudo-labels agree")
