"""`gmcml-tf`: argument parsing only; each command calls into the modules that do the work.

User mistakes (bad config, missing files, unreadable data) end in one line on
stderr and exit status 2; no traceback. Heavy imports (TensorFlow) happen only
in the commands that need them.
"""
from __future__ import annotations

import argparse
import json
import sys


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def _non_negative_int(text: str) -> int:
    return 0 if text.strip() == "0" else _positive_int(text)


def emit_json(result: dict, path: str | None) -> int:
    """A benchmark's result: printed, and written atomically to `path` when given."""
    print(json.dumps(result, indent=2))
    if path:
        from tfrecords_tools.writer import write_json_atomic
        write_json_atomic(path, result)
    return 0


def _render_overrides(args) -> list[str]:
    flags = {"meshes": "meshes", "backgrounds": "backgrounds", "out": "out", "views_per_model":
             "views_per_model", "size": "size", "workers": "workers", "seed": "seed"}
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
    if m["skipped_meshes"]:
        print(f"  skipped {len(m['skipped_meshes'])} meshes (reasons in manifest.json):")
        for key, info in list(m["skipped_meshes"].items())[:10]:
            print(f"    {key}: {info['reason']}")
    mt = m["missing_textures"]
    if mt["textures"]:
        print(f"  {mt['textures']} missing textures in {mt['models']} models (material colour used)")
    print(f"  triangles per model: mean {m['triangles']['mean']}, max {m['triangles']['max']}")
    return 0


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


def cmd_fit(args) -> int:
    from gmcml_tf.config import FIT_SECTIONS, load_config
    from gmcml_tf.training.train import fit
    flags = [f"train.{key}={json.dumps(value)}" for key, value in
             (("data", args.data), ("seed", args.seed), ("workdir", args.workdir),
              ("skip_corrupt", args.skip_corrupt or None)) if value is not None]
    cfg = load_config(args.config, list(args.set or []) + flags, short=FIT_SECTIONS)
    s = fit(cfg, cfg.train.workdir, show_progress=not args.no_progress)
    acc = "n/a" if s["val_accuracy"] is None else f"{s['val_accuracy']:.3f}"
    print(f"done in {s['seconds']} s, {s['steps']} steps: val accuracy {acc}; model {s['model_mb']:.2f} MB "
          f"(recon {s['recon_mb']:.2f} + classifier {s['classifier_mb']:.2f}, float32)")
    if s["skipped_shards"]:
        print(f"  left out {s['skipped_shards']} corrupt shards (--skip-corrupt; named above)")
    print(f"  workdir {s['workdir']} (model.keras, checkpoints/, history.json)")
    print(f"  logs: {s['tensorboard']}")
    return 0


def cmd_bench_train(args) -> int:
    from gmcml_tf.bench.render_train import bench_train
    model_cfg = None
    if args.config:
        from gmcml_tf.config import load_config
        model_cfg = load_config(args.config, list(args.set or []), short=("model",)).model
    result = bench_train(size=args.size, steps=args.steps, batch_size=args.batch_size,
                         model_cfg=model_cfg)
    return emit_json(result, args.json)


def cmd_bench_input(args) -> int:
    """Input pipeline throughput against what GM-CML training consumes (target >= 5x)."""
    from gmcml_tf.bench.render_train import bench_train
    from gmcml_tf.config import load_config
    from gmcml_tf.bench.input import bench_input
    from gmcml_tf.vocabulary import SET_SIZE
    cfg = load_config(args.config, list(args.set or []), short=("train", "model"))
    size, batch = cfg.model.image_size, cfg.train.batch_size
    data = args.data or cfg.train.data
    result = {"data": data, "image_size": size}
    recipe = dict(augment=cfg.train.augment, balanced=cfg.train.balanced)
    for triplets in (False, True):  # with the config's augmentation and balanced draws
        r = bench_input(data, image_size=size, batch_size=batch * (1 if triplets else SET_SIZE),
                        triplets=triplets, steps=args.steps, **recipe)
        result["triplet_input_images_per_s" if triplets else "input_images_per_s"] = r["input_images_per_s"]
    # the bare pipeline (flip only, library order): what the recipe costs the input side
    result["bare_input_images_per_s"] = bench_input(data, image_size=size, batch_size=batch,
                                                    triplets=False, steps=args.steps)["input_images_per_s"]
    train = bench_train(size=size, steps=10, batch_size=batch * SET_SIZE, model_cfg=cfg.model)
    result["train_images_per_s"] = train["gmcml_images_per_s"]
    result["input_over_train"] = round(min(result["input_images_per_s"], result["triplet_input_images_per_s"])
                                       / train["gmcml_images_per_s"], 2)
    result["target_input_over_train"] = 5.0
    return emit_json(result, args.json)


DESCRIPTION = """\
Object recognisers for real photos from 3D models alone: render paired training data
(RGB, semantic mask, depth) from textured meshes, train GM-CML (Wang & Deng, arXiv
1705.08590), measure it on real photos, and export a SavedModel that TF Serving serves."""

EPILOG = """\
start with `make demo` (README), or: render --config configs/quickstart.yaml, then
fit --config configs/gm_cml.yaml; `gmcml-tf COMMAND --help` for a command's options."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gmcml-tf", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--verbose", action="store_true",
                   help="show TensorFlow's own log lines (start-up, devices), hidden by default")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("render", help="render 3D models into paired RGB/mask/depth TFRecord shards")
    r.add_argument("--config", help="YAML config (configs/*.yaml); defaults if omitted")
    r.add_argument("--meshes", help="DIR | shapenet:DIR | procedural")
    r.add_argument("--backgrounds", help="DIR | none | default")
    r.add_argument("--out", help="output folder for shards and manifest.json")
    r.add_argument("--views-per-model", type=_positive_int)
    r.add_argument("--size", type=_positive_int, help="output size in pixels (square)")
    r.add_argument("--workers", type=_non_negative_int, help="processes (0: one per core)")
    r.add_argument("--seed", type=int)
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
    v.add_argument("--n", type=_positive_int, default=12)
    v.add_argument("--split", choices=["train", "val"])
    v.set_defaults(func=cmd_data_preview)

    f = sub.add_parser("fit", help="train GM-CML (or an ablation) on rendered shards")
    f.add_argument("--config", required=True, help="YAML config (configs/gm_cml.yaml, ...)")
    f.add_argument("--workdir", help="run folder (default: train.workdir); re-run to resume")
    f.add_argument("--data", help="shards folder from `gmcml-tf render` (default: train.data)")
    f.add_argument("--seed", type=int)
    f.add_argument("--skip-corrupt", action="store_true",
                   help="leave out corrupt or missing shards (each named, and counted) instead of stopping")
    f.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config key")
    f.add_argument("--no-progress", action="store_true")
    f.set_defaults(func=cmd_fit)

    b = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench_command", required=True)
    br = b.add_parser("render", help="full render pipeline vs the bare render loop")
    br.add_argument("--config", help="YAML config (render section)")
    br.add_argument("--meshes", default=None, help="DIR | shapenet:DIR | procedural (default: config)")
    br.add_argument("--views", type=_positive_int, default=2000)
    br.add_argument("--workers", type=_non_negative_int, default=0)
    br.add_argument("--set", action="append", metavar="KEY=VALUE")
    br.add_argument("--json", help="also write the result here")
    br.set_defaults(func=cmd_bench_render)
    bt = b.add_parser("train", help="GM-CML vs ZigzagNet alone: training images/s, model MB")
    bt.add_argument("--size", type=_positive_int, default=64)
    bt.add_argument("--steps", type=_positive_int, default=20)
    bt.add_argument("--batch-size", type=_positive_int, default=16)
    bt.add_argument("--config", help="take the model section from here (default: built-in defaults)")
    bt.add_argument("--set", action="append", metavar="KEY=VALUE")
    bt.add_argument("--json", help="also write the result here")
    bt.set_defaults(func=cmd_bench_train)
    bi = b.add_parser("input", help="tf.data throughput vs GM-CML training consumption")
    bi.add_argument("--config", default="configs/gm_cml.yaml", help="model/train sections used")
    bi.add_argument("--data", help="shards (default: the config's train.data)")
    bi.add_argument("--steps", type=_positive_int, default=50)
    bi.add_argument("--set", action="append", metavar="KEY=VALUE")
    bi.add_argument("--json", help="also write the result here")
    bi.set_defaults(func=cmd_bench_input)
    from gmcml_tf import cli_eval, cli_serving
    cli_eval.add_commands(sub, _positive_int)
    cli_serving.add_commands(sub, b, _positive_int)
    return p


def main(argv: list[str] | None = None) -> int:
    from tfrecords_tools.errors import UserError
    args = build_parser().parse_args(argv)
    if not args.verbose:
        from gmcml_tf.quiet import silence_tensorflow
        silence_tensorflow()
    try:
        return args.func(args)
    except UserError as e:
        print(f"gmcml-tf: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a path the user gave: missing, a file for a folder, no permission
        where = f"{e.filename}: " if e.filename else ""
        print(f"gmcml-tf: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gmcml-tf: interrupted; complete shards and checkpoints are kept, re-run the same command to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
