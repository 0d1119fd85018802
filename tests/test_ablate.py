"""The ablation table and the background-leakage audit's data."""
from __future__ import annotations

import json

import numpy as np

from gmcml_tf.evaluation.ablate import collect, markdown


def test_audit_regenerates_the_exact_background_of_every_view(smoke_render):
    """Each regenerated crop carries the record's background id (regenerate checks it), and
    where the object is absent the rendered image equals the regenerated background."""
    import io

    from PIL import Image

    from gmcml_tf.evaluation.background_audit import regenerate
    from gmcml_tf.data import list_shards
    from tfrecords_tools import schema
    cfg, manifest = smoke_render
    images, labels = regenerate(cfg.out, "val", cfg.size)
    assert len(labels) == manifest["splits"]["val"]["records"]
    records = [schema.decode_example(p) for shard in list_shards(cfg.out, "val")
               for p in schema.read_records(shard)]  # file order, as regenerate reads them
    assert [r["label"] for r in records] == labels.tolist()
    checked = 0
    for r, bg in zip(records, images):
        rgb = np.asarray(Image.open(io.BytesIO(r["image/encoded"])))
        alpha = np.asarray(Image.open(io.BytesIO(r["alpha/encoded"])))
        assert alpha.max() == 255  # an object in front ...
        np.testing.assert_array_equal(rgb[alpha == 0], bg[alpha == 0])  # ... of exactly this
        checked += int((alpha == 0).sum())
    assert checked > 1000


def test_table_from_finished_runs(tmp_path):
    for seed, acc in enumerate((0.5, 0.7)):
        d = tmp_path / "gm_cml" / f"seed-{seed}"
        d.mkdir(parents=True)
        (d / "ablation_row.json").write_text(json.dumps(
            {"synthetic_val_accuracy": acc, "real_accuracy": None, "model_mb": 7.6}))
    rows = collect(tmp_path, ["gm_cml", "missing"])
    assert list(rows) == ["gm_cml"]
    assert rows["gm_cml"]["synthetic_val_accuracy"]["mean"] == 0.6
    assert abs(rows["gm_cml"]["synthetic_val_accuracy"]["std"] - 0.1414) < 1e-3
    md = markdown({"rows": rows, "data": "d", "photos": "p", "restrict_to_present": False,
                   "chance": 1 / 12})
    assert "| gm_cml | 2 | 60.0 ± 14.1 | – |" in md
    from PIL import Image

    from gmcml_tf.evaluation.plots import ablation_bars
    png = ablation_bars(rows, tmp_path / "table.png")
    with Image.open(png) as im:
        assert im.size[0] > 300 and im.size[1] > 200
