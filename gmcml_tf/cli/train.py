"""`gmcml-tf fit | bench train | bench input`: training and its throughput."""
from __future__ import annotations

import json

from gmcml_tf.cli.common import emit_json, positive_int, seed


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
    model_cfg, ratios_from = None, "probe"
    if args.config:
        from gmcml_tf.config import load_config
        cfg = load_config(args.config, list(args.set or []), short=("model", "train"))
        model_cfg, ratios_from = cfg.model, cfg.train.noise.ratios_from
    result = bench_train(size=args.size, steps=args.steps, batch_size=args.batch_size,
                         model_cfg=model_cfg, ratios_from=ratios_from)
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
    train = bench_train(size=size, steps=10, batch_size=batch * SET_SIZE, model_cfg=cfg.model,
                        ratios_from=cfg.train.noise.ratios_from)
    result["train_images_per_s"] = train["gmcml_images_per_s"]
    result["input_over_train"] = round(min(result["input_images_per_s"], result["triplet_input_images_per_s"])
                                       / train["gmcml_images_per_s"], 2)
    result["target_input_over_train"] = 5.0
    return emit_json(result, args.json)


def add_commands(sub) -> None:
    f = sub.add_parser("fit", help="train GM-CML (or an ablation) on rendered shards")
    f.add_argument("--config", required=True, help="YAML config (configs/gm_cml.yaml, ...)")
    f.add_argument("--workdir", help="run folder (default: train.workdir); re-run to resume")
    f.add_argument("--data", help="shards folder from `gmcml-tf render` (default: train.data)")
    f.add_argument("--seed", type=seed)
    f.add_argument("--skip-corrupt", action="store_true",
                   help="leave out corrupt or missing shards (each named, and counted) instead of stopping")
    f.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config key")
    f.add_argument("--no-progress", action="store_true")
    f.set_defaults(func=cmd_fit)



def add_bench(bench) -> None:
    bt = bench.add_parser("train", help="GM-CML vs ZigzagNet alone: training images/s, model MB")
    bt.add_argument("--size", type=positive_int, default=64)
    bt.add_argument("--steps", type=positive_int, default=20)
    bt.add_argument("--batch-size", type=positive_int, default=16)
    bt.add_argument("--config", help="take the model section from here (default: built-in defaults)")
    bt.add_argument("--set", action="append", metavar="KEY=VALUE")
    bt.add_argument("--json", help="also write the result here")
    bt.set_defaults(func=cmd_bench_train)
    bi = bench.add_parser("input", help="tf.data throughput vs GM-CML training consumption")
    bi.add_argument("--config", default="configs/gm_cml.yaml", help="model/train sections used")
    bi.add_argument("--data", help="shards (default: the config's train.data)")
    bi.add_argument("--steps", type=positive_int, default=50)
    bi.add_argument("--set", action="append", metavar="KEY=VALUE")
    bi.add_argument("--json", help="also write the result here")
    bi.set_defaults(func=cmd_bench_input)
