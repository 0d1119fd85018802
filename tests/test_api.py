"""The README's Python API example, run as a user would run it (in a scratch folder beside a
copy of the configs; real photos from ../shared when present, else a few generated ones)."""
import os
import re
import shutil

import numpy as np
from PIL import Image

from conftest import REPO, SHARED


def _readme_example() -> str:
    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- api-example[^>]*-->\n```python\n(.*?)```", text, re.S)
    assert block, "README lost its Python API example"
    return block.group(1)


def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    work = tmp_path / "project"
    shutil.copytree(REPO / "configs", work / "configs")
    photos = tmp_path / "shared" / "data" / "real_dev"
    if (SHARED / "real_dev").is_dir():
        (tmp_path / "shared" / "data").mkdir(parents=True)
        os.symlink(SHARED / "real_dev", photos)
    else:
        rng = np.random.default_rng(0)
        for cat in ("car", "chair"):
            (photos / cat).mkdir(parents=True)
            for i in range(3):
                Image.fromarray((rng.random((30, 40, 3)) * 255).astype(np.uint8)).save(photos / cat / f"{i}.png")
    monkeypatch.chdir(work)
    namespace: dict = {}
    exec(compile(_readme_example(), "README.md", "exec"), namespace)
    gm = namespace["gm"]
    assert namespace["manifest"]["splits"]["train"]["records"] > 0
    assert 0 <= namespace["result"]["mean_per_class_accuracy"] <= 1
    assert (work / "saved_models" / "api_smoke" / "1" / "saved_model.pb").is_file()
    assert os.path.isfile(namespace["exported"]["model_card"])
    assert namespace["same"].config.train.seed == 0 and namespace["same"].model is not None
    assert isinstance(namespace["run"], gm.Run)
    # mistakes raise the CLI's one-line errors
    import pytest
    from tfrecords_tools.errors import UserError
    with pytest.raises(UserError, match="nope"):
        gm.load_run("runs/nope")
