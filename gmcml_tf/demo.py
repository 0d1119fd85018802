"""`gmcml-tf demo` (what `make demo` runs): the whole data flow on the embedded default.

render (configs/quickstart.yaml) -> fit (configs/MODEL.yaml) -> evaluate on real photos
(when a photo folder is given or ../shared/data/real_dev sits beside the repo) ->
export (saved_models/MODEL/N). Every step resumes: re-running after an interruption
keeps the complete shards and the last checkpoint. MODEL is DEFAULT_MODEL unless named
(`--model gm_cml`, `make demo MODEL=gm_cml`).
"""
from __future__ import annotations

import json
from pathlib import Path

from gmcml_tf.errors import UserError
from gmcml_tf.evaluation.ablate import CONFIG_DIR

REPO = CONFIG_DIR.parent
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "real_dev"
MODELS = {"gm_cml": "GM-CML", "zigzagnet": "ZigzagNet alone"}   # configs/NAME.yaml
DEFAULT_MODEL = "zigzagnet"   # level with GM-CML on real photos, 1.6-2x faster (docs/results.md)


def demo(workdir: str | None = None, data: str = "data_out/quickstart", photos: str | None = None,
         export_to: str | None = None, seed: int = 0, overrides: list[str] | None = None,
         model: str = DEFAULT_MODEL) -> dict:
    from gmcml_tf.config import FIT_SECTIONS, load_config
    from gmcml_tf.evaluation.real_photos import open_photos
    from gmcml_tf.training.train import fit
    from tfrecords_tools.runners import render

    if model not in MODELS:
        raise UserError(f"--model {model!r}: one of {', '.join(MODELS)}")
    workdir = workdir or f"runs/{model}"
    export_to = export_to or f"saved_models/{model}"
    # Every input checked before minutes of work: both configs (with --set) and the photos.
    rcfg = load_config(CONFIG_DIR / "quickstart.yaml", [f"render.out={json.dumps(data)}",
                                                          f"render.seed={seed}"]).render
    cfg = load_config(CONFIG_DIR / f"{model}.yaml", list(overrides or []) + [
        f"train.data={json.dumps(data)}", f"train.seed={seed}", f"train.workdir={json.dumps(workdir)}"],
        short=FIT_SECTIONS)
    photo_dir = photos or (str(DEFAULT_PHOTOS) if DEFAULT_PHOTOS.is_dir() else None)
    # labelled by the PASCAL3D+ preset: quickstart.yaml renders the generator's 12, in its order
    photo_set = open_photos(photo_dir) if photo_dir else None

    print("== 1/4 render the embedded procedural models (configs/quickstart.yaml)", flush=True)
    m = render(rcfg, show_progress=True)
    print(f"   {m['_run']['rendered_views']} views rendered, "
          f"{m['_run']['shards_skipped_complete']} complete shards kept -> {data}")

    print(f"== 2/4 train {MODELS[model]} (configs/{model}.yaml)", flush=True)
    summary = fit(cfg, workdir, show_progress=True)

    real = None
    if photo_set is not None:
        print(f"== 3/4 evaluate on real photos ({photo_dir})", flush=True)
        real = _evaluate(workdir, photo_set)
    else:
        print("== 3/4 no real photos given (--photos DIR/<category>/*.jpg): evaluation skipped")

    print("== 4/4 export for TF Serving", flush=True)
    exported = _export_once(workdir, export_to)
    return {"fit": summary, "real": real, "export": exported, "model": model, "export_base": export_to}


def _evaluate(workdir: str, photos) -> dict:
    from gmcml_tf.evaluation.evaluate import evaluate_and_save
    from gmcml_tf.training.workdir import load_run
    return evaluate_and_save(load_run(workdir), photos)[0]


def _export_once(workdir: str, base: str) -> dict:
    """A new version only when the run's model is newer than the latest export."""
    from gmcml_tf.serving.export import export_run, next_version
    from gmcml_tf.training.workdir import load_run
    model_file = Path(workdir) / "model.keras"
    latest = Path(base) / str(next_version(Path(base)) - 1)
    if latest.is_dir() and latest.stat().st_mtime >= model_file.stat().st_mtime:
        return {"path": str(latest), "kept": True}
    return export_run(load_run(workdir), base)


def print_summary(result: dict) -> None:
    s, real, ex = result["fit"], result["real"], result["export"]
    acc = "n/a" if s["val_accuracy"] is None else f"{100 * s['val_accuracy']:.1f}%"
    print("\n== summary")
    print(f"  synthetic val accuracy {acc} (renders of held-out models); training took {s['seconds']} s")
    print(f"  model {s['model_mb']:.2f} MB float32 (reconstruction {s['recon_mb']:.2f} + "
          f"classifier {s['classifier_mb']:.2f}; the paper's: 20.2)")
    if real:
        classes = sum(1 for v in real["per_class"].values() if v["n"])
        print(f"  real photos ({real['n']}, {classes} "
              f"classes, 12-way): accuracy {100 * real['accuracy']:.1f}%, mean per-class "
              f"{100 * real['mean_per_class_accuracy']:.1f}%, nearest-neighbour {100 * real['nn_accuracy']:.1f}%")
        present = real.get("present_classes_only")
        if present:
            print(f"  real photos, argmax over the {sum(1 for v in real['per_class'].values() if v['n'])} "
                  f"present classes: accuracy {100 * present['accuracy']:.1f}%, mean per-class "
                  f"{100 * present['mean_per_class_accuracy']:.1f}%"
                  f"{' (flip-averaged)' if real.get('flip') else ''}")
    print(f"  SavedModel {ex['path']}{' (unchanged)' if ex.get('kept') else ''}: "
          f"gmcml-tf serve --model {result['export_base']}")
    print(f"  TensorBoard: {s['tensorboard']}")
