"""`gmcml-tf data stats` and `data preview` on a real smoke render."""
import numpy as np
from PIL import Image

from tfrecords_tools.stats import preview, stats


def test_stats_counts_and_mean_std_images(smoke_render, tmp_path):
    cfg, manifest = smoke_render
    result = stats(cfg.out, tmp_path)
    for split, s in manifest["splits"].items():
        assert result["splits"][split]["records"] == s["records"]
        assert result["splits"][split]["per_category"] == s["per_category"]
    img = np.asarray(Image.open(tmp_path / "mean_std_train_mask.png"))
    assert img.shape == (64, 128, 3) and img.max() > 0


def test_preview_grid_has_four_rows(smoke_render, tmp_path):
    cfg, _ = smoke_render
    path = preview(cfg.out, tmp_path / "grid.png", n=6)
    assert np.asarray(Image.open(path)).shape == (4 * 64, 6 * 64, 3)
