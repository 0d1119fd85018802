"""The experiment config: YAML sections over typed dataclasses, `--set` overrides.

A config file has one section per stage of the data flow; today `render:`
(tfrecords_tools.render_config). Unknown sections and keys are rejected with
the closest valid name.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from tfrecords_tools.configlib import ConfigError, apply_overrides, from_dict, read_yaml
from tfrecords_tools.render_config import RenderConfig

__all__ = ["ConfigError", "ExperimentConfig", "load_config"]


@dataclasses.dataclass
class ExperimentConfig:
    render: RenderConfig = dataclasses.field(default_factory=RenderConfig)


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read `path` (or the defaults when None), apply `key=value` overrides, validate.

    An override key may omit its section when it is unambiguous: `size=64` means
    `render.size=64`.
    """
    data = read_yaml(path) if path else {}
    sections = [f.name for f in dataclasses.fields(ExperimentConfig)]
    qualified = [o if o.split("=", 1)[0].split(".")[0] in sections else f"render.{o}"
                 for o in (overrides or [])]
    apply_overrides(data, qualified)
    try:
        return from_dict(ExperimentConfig, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path else str(e)) from None
