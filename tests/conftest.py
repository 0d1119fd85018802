"""Shared fixtures: one real smoke render per test session, and ../shared with a stated skip."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, or skip: a user's clone has no ../shared."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} absent (../shared/data is not part of a user's clone)")
    return p


def smoke_config(**overrides):
    from gmcml_tf.config import load_config
    cfg = load_config(REPO / "configs" / "smoke.yaml").render
    return dataclasses.replace(cfg, **overrides)


@pytest.fixture(scope="session")
def smoke_render(tmp_path_factory):
    """configs/smoke.yaml rendered once (1 worker): (config, manifest)."""
    from tfrecords_tools.runners import render
    cfg = smoke_config(out=str(tmp_path_factory.mktemp("smoke")), workers=1)
    return cfg, render(cfg, show_progress=False)


@pytest.fixture(scope="module")
def smoke_run(smoke_render, tmp_path_factory):
    """configs/smoke.yaml trained for its few steps on the smoke render: a real run folder."""
    from gmcml_tf.config import load_config
    from gmcml_tf.training.train import fit
    render_cfg, _ = smoke_render
    cfg = load_config(REPO / "configs" / "smoke.yaml", [f"train.data={render_cfg.out}"])
    workdir = tmp_path_factory.mktemp("run")
    fit(cfg, workdir, show_progress=False)
    return workdir


def photo_folder(root, n=20, shift=0.0, flat=False, seed=1):
    """n random photos, alternately airplanes/ and car/ (flat: all in root); returns root."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(seed)
    for i in range(n):
        folder = root if flat else root / ("car" if i % 2 else "airplanes")
        folder.mkdir(parents=True, exist_ok=True)
        arr = np.clip(rng.random((36, 44, 3)) * 0.5 + shift, 0, 1)
        Image.fromarray((arr * 255).astype(np.uint8)).save(folder / f"{i}.png")
    return root
