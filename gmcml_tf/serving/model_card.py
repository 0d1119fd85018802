"""The model card `gmcml-tf export` writes beside the SavedModel (assets.extra/model_card.md and
.json): what the model was trained on, the evaluations that were run with their numbers, what
it is for and where it is known to fail. Everything comes from the run folder and the render's
manifest; nothing is typed in by hand, so the card cannot drift from the run.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

CARD_JSON = "assets.extra/model_card.json"
CARD_MD = "assets.extra/model_card.md"

def intended_use(class_names: list[str], preset: str | None) -> str:
    which = (f"the {len(class_names)} PASCAL3D+ categories" if preset else
             f"the {len(class_names)} categories of the mesh library it was trained on")
    return (f"Recognising {which} ({', '.join(class_names)}) in photos showing one main object, "
            "by a model trained on renders of 3D models only. A research and prototyping tool: "
            "measure it on photos of your own domain before relying on it.")


def limits(n: int) -> list[str]:
    return [
        "Trained on renders only: accuracy on real photos depends on how well the meshes, textures "
        "and backgrounds cover the photos' domain; the evaluations below are the measure.",
        f"Closed set: every input gets one of the {n} classes, also photos that show none of them; "
        "the scores are not calibrated probabilities of being right.",
        "Categories with few meshes in the training library (see per_category) are the weakest; "
        "a category with a single model was validated on held-out views of that model, not on "
        "an unseen model.",
        "Small input: photos are fitted to the model's square input (fit below), so small or "
        "off-centre objects lose detail.",
    ]


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def trained_on(data_dir: Path) -> dict:
    """The render behind the run, from its manifest (absent: only the folder is known)."""
    m = _json(data_dir / "manifest.json")
    if m is None:
        return {"data": str(data_dir), "manifest": "absent"}
    config = m.get("config", {})
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    splits = m.get("splits", {})
    return {"data": str(data_dir), "mesh_source": m.get("source", {}).get("spec"),
            "backgrounds": config.get("backgrounds"), "image_size": config.get("size"),
            "render_seed": config.get("seed"), "render_config_sha256": digest,
            "randomized_views": m.get("randomized"),
            "val_split": {c["name"]: c.get("split", "model") for c in m.get("classes", [])} or "by model",
            "splits": {s: {"models": v.get("models"), "views": v.get("records"),
                           "per_category": v.get("per_category")} for s, v in splits.items()}}


def evaluations(run_path: Path) -> list[dict]:
    """Every `gmcml-tf evaluate` result saved in the run folder, with its headline numbers."""
    out = []
    for path in sorted((run_path / "evaluation").glob("*.json")):
        r = _json(path)
        if not r or "mean_per_class_accuracy" not in r:
            continue
        out.append({"file": path.name, "photos": r.get("source"), "n": r.get("n"),
                    "argmax_over": "classes present in the photos" if r.get("restrict_to_present")
                    else f"all {len(r.get('classes') or r.get('per_class') or [])} classes",
                    "accuracy": r.get("accuracy"), "mean_per_class_accuracy": r.get("mean_per_class_accuracy"),
                    "per_class": {k: v.get("accuracy") for k, v in (r.get("per_class") or {}).items()
                                  if v.get("n")},
                    "fit": r.get("fit"), "flip": r.get("flip")})
    return out


def build(run, export_summary: dict) -> dict:
    cfg = run.config
    history = _json(run.path / "history.json") or {}
    last_eval = (history.get("eval") or [{}])[-1]
    adapted = _json(run.path / "adapt.json")
    return {"model": {"recon": cfg.model.recon, "classifier": cfg.model.classifier,
                      "image_size": cfg.model.image_size, "classes": run.class_names,
                      "method": "GM-CML, Wang & Deng, arXiv 1705.08590 (docs/method.md)"},
            "export": {k: export_summary.get(k) for k in ("version", "fit", "flip")},
            "run": {"workdir": str(run.path), "seed": cfg.train.seed,
                    "steps": last_eval.get("step"), "synthetic_val_accuracy": last_eval.get("accuracy"),
                    "transductive_adaptation": adapted},
            "trained_on": trained_on(Path(cfg.train.data)),
            "evaluations": evaluations(run.path),
            "intended_use": intended_use(run.class_names, run.classes.preset),
            "known_limits": limits(len(run.class_names))}


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def markdown(card: dict) -> str:
    m, r, t = card["model"], card["run"], card["trained_on"]
    lines = [f"# Model card: {m['recon']} + {m['classifier']} ({m['image_size']} px)", "",
             f"Method: {m['method']}. Export version {card['export']['version']}, photo fitting "
             f"`{card['export']['fit']}`, flip averaging {'on' if card['export']['flip'] else 'off'}.", "",
             "## Trained on", "",
             f"- renders in `{t['data']}`: mesh source `{t.get('mesh_source')}`, backgrounds "
             f"`{t.get('backgrounds')}`, {t.get('image_size')} px, render seed {t.get('render_seed')}, "
             f"render config sha256 {t.get('render_config_sha256')}"]
    for split, s in (t.get("splits") or {}).items():
        lines.append(f"- {split}: {s['models']} models, {s['views']} views; per category {s['per_category']}")
    by_view = [k for k, v in (t.get("val_split") or {}).items() if v == "view"] \
        if isinstance(t.get("val_split"), dict) else []
    if by_view:
        lines.append(f"- val split by view (a held-out band of azimuths) for {', '.join(by_view)}; "
                     "by model for the rest")
    if t.get("randomized_views"):
        lines.append(f"- domain randomisation (views): {t['randomized_views']}")
    lines += [f"- training: seed {r['seed']}, {r['steps']} steps, synthetic val accuracy "
              f"{_pct(r['synthetic_val_accuracy'])} (renders of held-out models)"]
    if r.get("transductive_adaptation"):
        lines.append("- batch-norm statistics re-estimated on the evaluation photos (AdaBN): "
                     "the numbers below are transductive")
    lines += ["", "## Evaluations", ""]
    if not card["evaluations"]:
        lines.append("None were run before export (`gmcml-tf evaluate --workdir RUN --real DIR`).")
    for e in card["evaluations"]:
        per = ", ".join(f"{k} {_pct(v)}" for k, v in e["per_class"].items())
        lines.append(f"- `{e['photos']}` ({e['n']} photos, argmax over {e['argmax_over']}, fit {e['fit']}, "
                     f"flip {e['flip']}): accuracy {_pct(e['accuracy'])}, mean per-class "
                     f"{_pct(e['mean_per_class_accuracy'])}; {per}")
    lines += ["", "## Intended use", "", card["intended_use"], "", "## Known limits", ""]
    lines += [f"- {x}" for x in card["known_limits"]]
    return "\n".join(lines) + "\n"
