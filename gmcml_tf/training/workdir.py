"""A finished `gmcml-tf fit` run folder, read back: the model, its resolved config, class names.

Written by gmcml_tf.training.train (config.yaml, model.keras); read by evaluate and export.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import json

from tfrecords_tools.classes import ClassList, pascal3d
from tfrecords_tools.errors import UserError


ADAPT_FILE = "adapt.json"   # written by gmcml-tf adapt into the run folder it makes


def adaptation_of(run_path: str | Path) -> dict | None:
    """The adapt.json of an adapted run folder (gmcml_tf.evaluation.adapt), None for a trained one."""
    path = Path(run_path) / ADAPT_FILE
    return json.loads(path.read_text()) if path.is_file() else None


class RunError(UserError):
    """The folder is not a finished run; the message names the missing file."""


@dataclasses.dataclass
class Run:
    path: Path
    config: object          # gmcml_tf.config.ExperimentConfig
    model: object           # gmcml_tf.models.GMCML
    classes: ClassList
    fit: str = "stretch"    # how photos are fitted to the square input
    flip: bool = False      # scores averaged with the mirror image
    summary: dict | None = None  # set by gmcml_tf.api.fit: what training returned
    val_split: str = ""     # how the render's val split was made, in words

    @property
    def class_names(self) -> list[str]:
        return list(self.classes.names)


def read_run_classes(path: Path, num_classes: int | None) -> tuple[ClassList, str]:
    """The run's classes.json, or for runs made before it existed the first `num_classes`
    (default all) of the PASCAL3D+ preset (their labels were indices into it)."""
    f = path / "classes.json"
    if not f.is_file():
        p = pascal3d()
        return ClassList(p.names[:num_classes], p.colors[:num_classes], p.preset), ""
    try:
        d = json.loads(f.read_text())
        return ClassList.from_manifest(d["classes"], d.get("preset")), d.get("val_split", "")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RunError(f"{f}: unreadable class list ({e})") from None


def load_run(workdir: str | Path, load_model: bool = True) -> Run:
    path = Path(workdir)
    config_path, model_path = path / "config.yaml", path / "model.keras"
    if not path.is_dir():
        raise RunError(f"{path}: no such run folder (train one with gmcml-tf fit)")
    if not config_path.is_file():
        raise RunError(f"{config_path}: missing; {path} is not a gmcml-tf fit run folder")
    if load_model and not model_path.is_file():
        raise RunError(f"{model_path}: missing; the run has not finished "
                       "(re-run its gmcml-tf fit command to resume)")
    from gmcml_tf.config import load_config
    cfg = load_config(config_path)
    model = None
    if load_model:
        import keras
        import gmcml_tf.models.gmcml  # noqa: F401  (registers the serialisable classes)
        model = keras.models.load_model(model_path, compile=False)
    classes, note = read_run_classes(path, cfg.model.num_classes)
    if cfg.model.num_classes is not None and len(classes) != cfg.model.num_classes:
        raise RunError(f"{path / 'classes.json'}: {len(classes)} classes, but the model has "
                       f"{cfg.model.num_classes} outputs")
    return Run(path, cfg, model, classes, cfg.eval.fit, cfg.eval.flip, val_split=note)
