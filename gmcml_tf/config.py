"""The experiment config: YAML sections over typed dataclasses, `--set` overrides.

A config file has one section per stage of the data flow: `render:`
(tfrecords_tools.render_config), `model:` and `train:` (gmcml_tf.training.train_config).
Unknown sections and keys are rejected with the closest valid name.
"""
from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path

from tfrecords_tools.configlib import ConfigError, apply_overrides, from_dict, read_yaml
from tfrecords_tools.render_config import RenderConfig

from gmcml_tf.preprocess import fit_modes
from gmcml_tf.training.train_config import ModelConfig, TrainConfig


@dataclasses.dataclass
class EvalConfig:
    """How photos meet the model, in `evaluate` and in the exported SavedModel."""
    fit: str = "stretch"     # stretch | pad | pad_edge | crop (gmcml_tf/preprocess.py) | several: stretch+crop
    flip: bool = False       # average the scores of each photo and its mirror image
    # photo folder name -> class, for photo sets named otherwise than the run's classes
    aliases: dict[str, str] = dataclasses.field(default_factory=dict)

    def validate(self, p: str = "eval") -> None:
        try:
            fit_modes(self.fit)
        except ValueError as e:
            raise ConfigError(f"{p}.{e}") from None

__all__ = ["ConfigError", "ExperimentConfig", "FIT_SECTIONS", "load_config"]


@dataclasses.dataclass
class ExperimentConfig:
    render: RenderConfig = dataclasses.field(default_factory=RenderConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)


FIT_SECTIONS = ("train", "model", "eval")   # what `fit`, `ablate` and `demo`'s --set may shorten
_SECTIONS = (("render", RenderConfig), ("train", TrainConfig), ("model", ModelConfig),
             ("eval", EvalConfig))


def _qualify(override: str, sections: list[str], short: tuple[str, ...]) -> str:
    """Prefix a section to `key=value` when the key omits it: the section that has the key;
    for a key of several sections (`seed`), the one among `short` (the sections the command
    reads), else an error naming the full keys. A typo goes to the section of the closest
    key, whose error names it."""
    key, eq, _ = override.partition("=")
    if not eq or not key.strip():   # checked here, so the message shows what the user typed
        raise ConfigError(f"--set {override!r}: expected key=value")
    head = key.split(".")[0]
    if head in sections:
        return override
    owners: dict[str, list[str]] = {}
    for section, cls in _SECTIONS:
        for f in dataclasses.fields(cls):
            owners.setdefault(f.name, []).append(section)
    if head not in owners:
        close = difflib.get_close_matches(head, list(owners), n=1)
        head = close[0] if close else "meshes"
    found = owners[head]
    if len(found) > 1:
        found = [s for s in found if s in short]
        if len(found) != 1:
            full = ", ".join(f"{s}.{key.strip()}" for s in owners[head])
            raise ConfigError(f"--set {override}: {head!r} is a key of several sections ({full}); "
                              "give the full key")
    return f"{found[0]}.{override}"


def load_config(path: str | Path | None, overrides: list[str] | None = None,
                short: tuple[str, ...] = ("render", "train", "model", "eval")) -> ExperimentConfig:
    """Read `path` (or the defaults when None), apply `key=value` overrides, validate.

    An override key may omit its section when one of the `short` sections (those the
    command reads) has it: `size=64` means `render.size=64`, `batch_size=8` means
    `train.batch_size=8`; `seed=7` is `render.seed` for `render` and `train.seed` for
    `fit`, and an error where both sections count (see `_qualify`).
    """
    data = read_yaml(path) if path else {}
    sections = [f.name for f in dataclasses.fields(ExperimentConfig)]
    qualified = [_qualify(o, sections, short) for o in (overrides or [])]
    apply_overrides(data, qualified)
    try:
        return from_dict(ExperimentConfig, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path else str(e)) from None
