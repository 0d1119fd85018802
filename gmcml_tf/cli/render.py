"""`gmcml-tf render | data stats | data preview | bench render`: rendering and the shards."""
from __future__ import annotations

import json
import sys

from gmcml_tf.cli.common import emit_json, non_negative_int, positive_int, seed


def _render_overrides(args) -> list[str]:
    flags = {"meshes": "meshes", "backgrounds": "backgrounds", "out": "out", "views_per_model":
             "views_per_model", "size": "size", "workers": "workers", "seed": "seed",
             "categories": "categories"}
    out = [f"render.{key}={json.dumps(getattr(args, attr))}" for attr, key in flags.items()
           if getattr(args, attr, None) is not None]
    return out + list(args.set or [])


def cmd_render(args) -> int:
    from gmcml_tf.config import load_config
    from tfrecords_tools.runners import render
    cfg = load_config(args.config, _render_overrides(args), short=("render",)).render
    if getattr(args, "runner", "local") == "beam":
        try:
            from tfrecords_tools.beam_runner import render_beam
        except ModuleNotFoundError as e:
            if not (e.name or "").startswith("apache_beam"):
                raise
            print("gmcml-tf: error: apache-beam is not installed: pip install -e '.[beam]'", file=sys.stderr)
            return 2
        m = render_beam(cfg, args.beam_option or [], show_progress=not args.no_progress)
    else:
        if args.beam_option:
            print("gmcml-tf: error: --beam-option needs --runner beam", file=sys.stderr)
            return 2
        m = render(cfg, show_progress=not args.no_progress)
    run = m["_run"]
    print(f"rendered {run['rendered_views']} views in {run['seconds']} s ({run['views_per_s']} views/s, "
          f"{run['workers']} workers{', ' + run['runner'] if 'runner' in run else ''}; "
          f"{run['shards_skipped_complete']} complete shards kept) -> {cfg.out}")
    for split, s in m["splits"].items():
        cats = ", ".join(f"{k} {v}" for k, v in s["per_category"].items())
        print(f"  {split}: {s['records']} records, {s['models']} models, {s['shards']} shards ({cats})")
    for line in class_summary(m):
        print(f"  {line}")
    if m["skipped_meshes"]:
        print(f"  skipped {len(m['skipped_meshes'])} meshes (reasons in manifest.json):")
        for key, info in list(m["skipped_meshes"].items())[:10]:
            print(f"    {key}: {info['reason']}")
    mt = m["missing_textures"]
    if mt["textures"]:
        print(f"  {mt['textures']} missing textures in {mt['models']} models (material colour used)")
    print(f"  triangles per model: mean {m['triangles']['mean']}, max {m['triangles']['max']}")
    return 0


def class_summary(m: dict) -> list[str]:
    """What the render made of the library's categories, for the render summary."""
    if "classes" not in m:
        return []
    info, classes = m["class_list"], m["classes"]
    names = ", ".join(c["name"] for c in classes[:12]) + (", ..." if len(classes) > 12 else "")
    out = [f"classes: the PASCAL3D+ preset ({len(classes)}: {names})" if info["preset"]
           else f"classes: {len(classes)} ({names})"]
    by_view = [c for c in classes if c["split"] == "view"]
    if by_view:
        out.append(f"val split by view for {len(by_view)} categories with one model "
                   f"({', '.join(c['name'] for c in by_view[:8])}): a held-out band of "
                   f"{by_view[0]['val_azimuths'][1]:g} deg of azimuth, views within "
                   f"{by_view[0]['guard_degrees']:g} deg of it rendered for neither split"
                   + ("; the other categories by model" if len(by_view) < len(classes) else ""))
    empty = [c["name"] for c in classes if not sum(c.get("views", {}).values())]
    if empty and not info["preset"]:
        out.append(f"no views for: {', '.join(empty)} (no readable mesh; see skipped)")
    if info["folders_without_meshes"]:
        out.append(f"skipped category folders without mesh files: {', '.join(info['folders_without_meshes'])}")
    if info["folders_not_selected"]:
        out.append(f"not in render.categories: {', '.join(info['folders_not_selected'])}")
    if info["procedural_cannot_make"]:
        out.append(f"the procedural generator cannot make: {', '.join(info['procedural_cannot_make'])} "
                   "(it makes the 12 PASCAL3D+ categories)")
    return out


def cmd_data_stats(args) -> int:
    from tfrecords_tools.stats import stats
    result = stats(args.dir, args.out, photos=args.photos)
    for split, s in result["splits"].items():
        print(f"{split}: {s['records']} records, {s['models']} models")
        for cat, n in s["per_category"].items():
            print(f"  {cat:12s} {n}")
    for p in result["mean_std_images"]:
        print(f"wrote {p} (mean | std)")
    return 0


def cmd_data_preview(args) -> int:
    from tfrecords_tools.stats import preview
    path = preview(args.dir, args.out, n=args.n, split=args.split)
    print(f"wrote {path} (rows: RGB | mask | depth | alpha)")
    return 0


def cmd_bench_render(args) -> int:
    from gmcml_tf.bench.render_train import bench_render
    from gmcml_tf.config import load_config
    cfg = load_config(args.config, list(args.set or []), short=("render",)).render
    result = bench_render(cfg, views=args.views, workers=args.workers, meshes=args.meshes)
    return emit_json(result, args.json)


def _class_counts(text: str) -> tuple[int, ...]:
    import argparse
    try:
        counts = tuple(int(c) for c in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected class counts like 2,5,12,40, not {text!r}") from None
    if min(counts) < 2:
        raise argparse.ArgumentTypeError(f"every class count must be at least 2, not {text!r}")
    return counts


def cmd_bench_categories(args) -> int:
    from gmcml_tf.bench.categories import bench_categories
    from gmcml_tf.config import FIT_SECTIONS, load_config
    rcfg = load_config(args.config, list(args.set or []), short=("render",)).render
    fcfg = load_config(args.fit_config, [f"train.seed={args.seed}"], short=FIT_SECTIONS)
    result = bench_categories(rcfg, fcfg, counts=args.counts, models=args.models, steps=args.steps, keep=args.keep)
    return emit_json(result, args.json)


def cmd_bench_adapt(args) -> int:
    from gmcml_tf.bench.adapt import bench_adapt
    return emit_json(bench_adapt(args.workdir, args.photos, count=args.count, seed=args.seed, note=args.note),
                     args.json)


def add_commands(sub) -> None:
    r = sub.add_parser("render", help="render 3D models into paired RGB/mask/depth TFRecord shards")
    r.add_argument("--config", help="YAML config (configs/*.yaml); defaults if omitted")
    r.add_argument("--meshes", help="DIR | shapenet:DIR | procedural")
    r.add_argument("--categories", type=lambda v: [c.strip() for c in v.split(",")],
                   help="the classes, in label order: category folder names, comma-separated "
                        "(default: every category folder of --meshes)")
    r.add_argument("--backgrounds", help="DIR | none | default")
    r.add_argument("--out", help="output folder for shards and manifest.json")
    r.add_argument("--views-per-model", type=positive_int)
    r.add_argument("--size", type=positive_int, help="output size in pixels (square)")
    r.add_argument("--workers", type=non_negative_int, help="processes (0: one per core)")
    r.add_argument("--seed", type=seed)
    r.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config key")
    r.add_argument("--no-progress", action="store_true")
    r.add_argument("--runner", choices=["local", "beam"], default="local",
                   help="local: a process pool on this machine; beam: an Apache Beam pipeline "
                        "(pip install -e '.[beam]')")
    r.add_argument("--beam-option", action="append", metavar="KEY=VALUE",
                   help="with --runner beam: any Beam PipelineOptions flag, repeatable "
                        "(runner=DataflowRunner, project=..., direct_num_workers=4, ...)")
    r.set_defaults(func=cmd_render)

    d = sub.add_parser("data", help="inspect rendered shards").add_subparsers(dest="data_command",
                                                                              required=True)
    s = d.add_parser("stats", help="counts per split and category; mean/std images (paper Fig. 3)")
    s.add_argument("dir")
    s.add_argument("--out", help="folder for the PNGs and stats.json (default DIR/stats)")
    s.add_argument("--photos", help="also a folder of real photos, for comparison")
    s.set_defaults(func=cmd_data_stats)
    v = d.add_parser("preview", help="a grid of RGB | mask | depth | alpha samples")
    v.add_argument("dir")
    v.add_argument("--out", required=True, help="PNG path")
    v.add_argument("--n", type=positive_int, default=12)
    v.add_argument("--split", choices=["train", "val"])
    v.set_defaults(func=cmd_data_preview)



def add_bench(bench) -> None:
    br = bench.add_parser("render", help="full render pipeline vs the bare render loop")
    br.add_argument("--config", help="YAML config (render section)")
    br.add_argument("--meshes", default=None, help="DIR | shapenet:DIR | procedural (default: config)")
    br.add_argument("--views", type=positive_int, default=2000)
    br.add_argument("--workers", type=non_negative_int, default=0)
    br.add_argument("--set", action="append", metavar="KEY=VALUE")
    br.add_argument("--json", help="also write the result here")
    br.set_defaults(func=cmd_bench_render)
    bc = bench.add_parser("categories", help="render and fit time, and palette separation, against the "
                                             "number of classes")
    bc.add_argument("--config", default="configs/quickstart.yaml", help="render section")
    bc.add_argument("--fit-config", default="configs/gm_cml.yaml", help="model and train sections")
    bc.add_argument("--counts", type=_class_counts, default=(2, 5, 12, 40),
                    help="class counts, comma-separated (each >= 2)")
    bc.add_argument("--models", type=positive_int, default=3, help="models per class")
    bc.add_argument("--steps", type=positive_int, default=60, help="training steps per fit")
    bc.add_argument("--seed", type=seed, default=0)
    bc.add_argument("--keep", help="write libraries, shards and runs here instead of a temporary folder")
    bc.add_argument("--set", action="append", metavar="KEY=VALUE", help="render overrides")
    bc.add_argument("--json", help="also write the result here")
    bc.set_defaults(func=cmd_bench_categories)
    ba = bench.add_parser("adapt", help="adapt's time for a number of photos, per method")
    ba.add_argument("--workdir", required=True, help="a `gmcml-tf fit` run folder")
    ba.add_argument("--photos", required=True, help="a photo folder (photos repeat when it has fewer)")
    ba.add_argument("--count", type=positive_int, default=1000)
    ba.add_argument("--seed", type=seed, default=0)
    ba.add_argument("--note", default="", help="a line kept in the JSON (e.g. what else ran on the cores)")
    ba.add_argument("--json", help="also write the result here")
    ba.set_defaults(func=cmd_bench_adapt)
