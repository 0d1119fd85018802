"""Save-and-reload check shared by the model tests (in the manner of keras-hub's TestCase)."""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np


def _as_dict(outputs) -> dict:
    if isinstance(outputs, dict):
        return {k: keras.ops.convert_to_numpy(v) for k, v in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return {str(i): keras.ops.convert_to_numpy(v) for i, v in enumerate(outputs)}
    return {"output": keras.ops.convert_to_numpy(outputs)}


def assert_save_roundtrip(model: keras.Model, inputs, tmp_path: Path, atol: float = 1e-5):
    """Save to .keras, reload, and check class, config and inference outputs all survive.

    Returns the reloaded model for further checks.
    """
    expected = _as_dict(model(inputs, training=False))
    path = Path(tmp_path) / "m.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    assert type(restored) is type(model)
    assert restored.get_config() == model.get_config()
    actual = _as_dict(restored(inputs, training=False))
    assert actual.keys() == expected.keys()
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], atol=atol, err_msg=key)
    return restored
