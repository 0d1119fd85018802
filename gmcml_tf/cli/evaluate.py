"""`gmcml-tf evaluate | ablate | demo`: argument parsing for the synthetic -> real commands."""
from __future__ import annotations

import sys
from pathlib import Path

from gmcml_tf.cli.common import FIT_METAVAR, fit_mode, positive_float, positive_int, seed


def _photos(args, classes, aliases=None):
    from gmcml_tf.evaluation.real_photos import photos_for
    return photos_for(args.real, classes, aliases, args.alias,
                      subsets=tuple(args.subsets.split(",")), margin=args.margin,
                      exclude_flags=tuple(f for f in args.exclude_flags.split(",") if f))


def cmd_evaluate(args) -> int:
    from gmcml_tf.evaluation.evaluate import evaluate_and_save
    from gmcml_tf.training.workdir import load_run
    flip = {"on": True, "off": False}.get(args.flip)
    run = load_run(args.workdir)
    photos = _photos(args, run.classes, run.config.eval.aliases)
    if args.holdout_of:
        from gmcml_tf.adaptation.photos import held_out_only
        photos = held_out_only(photos, args.holdout_of)
    r, out = evaluate_and_save(run, photos, args.json,
                               gallery_dir=args.gallery, fit=args.fit, flip=flip,
                               restrict_to_present=args.restrict_to_present,
                               skip_corrupt=True if args.skip_corrupt else None)
    print(f"{r['n']} real photos from {r['source']} (fit {r['fit']}{', flip-averaged' if r['flip'] else ''}"
          f"{', argmax over present classes' if r['restrict_to_present'] else ''}):")
    if r.get("transductive"):
        a = r["transductive"]
        print(f"  TRANSDUCTIVE: {a['seen']} of these {a['of']} photos are among the {a['images']} the run "
              f"adapted on ({a['method']}, {a['photos']}); report apart from inductive results")
    elif r.get("adapted"):
        print(f"  inductive: the run adapted ({r['adapted']['method']}) on {r['adapted']['images']} photos, "
              "none of them among these")
    print(f"  accuracy {r['accuracy']:.3f}   mean per-class {r['mean_per_class_accuracy']:.3f}   "
          f"nearest-neighbour {r['nn_accuracy']:.3f} (gallery: {r['gallery']['n']} renders)")
    for cat, v in r["per_class"].items():
        if v["n"]:
            print(f"  {cat:12s} n={v['n']:4d}  accuracy {v['accuracy']:.3f}")
    if r["skipped"]:
        print(f"  skipped {len(r['skipped'])} unreadable photos (all listed in the JSON):")
        for path, why in list(r["skipped"].items())[:5]:
            print(f"    {path}: {why}")
    for path, why in r["gallery"]["skipped_shards"].items():
        print(f"  left out corrupt gallery shard {path}: {why}")
    if r["unmapped_folders"]:
        print(f"  ignored photo folders that match no class: {', '.join(r['unmapped_folders'])} "
              "(map one with --alias FOLDER=CLASS)")
    if r["classes_without_photos"] and len(r["classes_without_photos"]) < len(r["classes"]):
        print(f"  classes with no photos: {', '.join(r['classes_without_photos'][:12])}"
              f"{', ...' if len(r['classes_without_photos']) > 12 else ''}")
    if r.get("reconstruction_on_renders"):
        m = r["reconstruction_on_renders"]
        print(f"  M' on {m['n']} val renders: silhouette IoU {m['silhouette_iou']:.3f}, its colour names the "
              f"class for {m['hue_accuracy']:.3f} (chance {m['chance_hue']:.3f})")
    print(f"  gallery: the {r['gallery']['split']} renders of {r['gallery']['dir']}"
          + (f"; {r['val_split']}" if r.get("val_split") else ""))
    print(f"  wrote {out} and {', '.join(Path(p).name for p in r['plots'].values())}")
    return 0


def cmd_adapt(args) -> int:
    from gmcml_tf.adaptation.runner import adapt
    from gmcml_tf.adaptation.self_training import SelfTrainingConfig
    mode = args.pseudo_labels
    settings = SelfTrainingConfig(**{k: v for k, v in (("rounds", args.rounds),
                                     ("steps_per_round", args.steps_per_round),
                                     ("learning_rate", args.learning_rate),
                                     ("smoothing_to", args.smoothing_to),
                                     ("min_share", args.min_share),
                                     ("cluster_temperature", args.cluster_temperature),
                                     ("cluster", None if mode is None else mode != "argmax"),
                                     ("agree", None if mode is None else mode == "agree"))
                                     if v is not None})
    r = adapt(args.workdir, args.photos, args.out, method=args.method, seed=args.seed, fit=args.fit,
              holdout=args.holdout, resume=args.resume, renders=args.renders, settings=settings,
              classes=[c for c in (args.classes or "").split(",") if c], batch_size=args.batch_size)
    print(f"adapted {r['adapted_from']} -> {r['workdir']} ({r['method']}) on {r['images']} photos of "
          f"{r['photos']} in {r['seconds']:.0f} s"
          + (f"; {len(r['skipped'])} unreadable, left out" if r["skipped"] else ""))
    if r["held_out"]:
        print(f"  held out {r['held_out']} photos (not adapted on): gmcml-tf evaluate --workdir {r['workdir']} "
              f"--real {r['photos']} --holdout-of {r['workdir']}")
    print(f"  evaluate: gmcml-tf evaluate --workdir {r['workdir']} --real DIR   (TRANSDUCTIVE when DIR "
          "holds photos it adapted on)")
    print(f"  export:   gmcml-tf export --workdir {r['workdir']}")
    return 0


def cmd_ablate(args) -> int:
    from gmcml_tf.evaluation.ablate import ablate
    from gmcml_tf.data.shards import read_classes
    photos = _photos(args, read_classes(args.data))
    result = ablate(args.configs.split(","), data=args.data, photos=photos, out=args.out,
                    seeds=args.seeds, restrict_to_present=args.restrict_to_present,
                    overrides=list(args.set or []), audit=not args.no_audit, table_only=args.table_only,
                    reference=args.reference)
    print(Path(result["table_md"]).read_text())
    print(f"wrote {result['table_md']} and {result['table_json']}; runs under {args.out}/<config>/")
    return 0


def cmd_report_summarize(args) -> int:
    from gmcml_tf.evaluation.report import RESULTS, map_paths, summarize, write_summary
    s = summarize(args.workdir, args.table, args.row, args.eval, args.fit_seconds, args.note or "")
    s = map_paths(s, dict(item.split("=", 1) for item in args.path_map or []))
    out = args.out or RESULTS / args.table / f"{Path(args.workdir).name}.json"
    print(f"wrote {write_summary(s, out)}")
    return 0


def cmd_report_build(args) -> int:
    from gmcml_tf.evaluation.report import build
    paths = build(args.root, check=args.check)
    if args.check:
        if paths:
            print(f"gmcml-tf: error: the results blocks of {', '.join(paths)} differ from what the JSON "
                  "gives; run gmcml-tf report build", file=sys.stderr)
            return 1
        print("results blocks are up to date")
        return 0
    print("\n".join(f"rewrote the results blocks of {p}" for p in paths) or "results blocks were up to date")
    return 0


def cmd_demo(args) -> int:
    from gmcml_tf.demo import demo, print_summary
    result = demo(workdir=args.workdir, data=args.data, photos=args.photos, export_to=args.export,
                  seed=args.seed, overrides=list(args.set or []), model=args.model)
    print_summary(result)
    return 0


def _photo_flags(p) -> None:
    p.add_argument("--real", required=True, help="photo folder DIR/<category>/*.jpg or pascal3d:DIR")
    p.add_argument("--alias", action="append", metavar="FOLDER=CLASS",
                   help="a photo folder name for one of the run's classes, e.g. ferry=boat (repeatable; "
                        "adds to the run's eval.aliases)")
    p.add_argument("--subsets", default="imagenet", help="PASCAL3D+ subsets: imagenet,pascal")
    p.add_argument("--margin", type=float, default=0.1, help="PASCAL3D+ box widening (fraction)")
    p.add_argument("--exclude-flags", default="difficult",
                   help="skip PASCAL3D+ objects with these flags (truncated,occluded,difficult)")
    p.add_argument("--restrict-to-present", action="store_true",
                   help="argmax over the classes present in the photo set only")


def add_commands(sub) -> None:
    e = sub.add_parser("evaluate", help="accuracy on real photos of a model trained on renders")
    e.add_argument("--workdir", required=True, help="a `gmcml-tf fit` run folder")
    _photo_flags(e)
    e.add_argument("--gallery", help="shards for nearest-neighbour (default: the run's data, val split)")
    e.add_argument("--fit", type=fit_mode, metavar=FIT_METAVAR,
                   help="photo fitting; several joined by '+' average their scores (default: eval.fit)")
    e.add_argument("--flip", choices=["on", "off"], help="average each photo with its mirror (default: eval.flip)")
    e.add_argument("--holdout-of", metavar="ADAPTED_RUN",
                   help="only the photos that `adapt --holdout` held out of that run (by content)")
    e.add_argument("--json", help="output JSON (default RUN/evaluation/real.json; PNGs beside it)")
    e.add_argument("--skip-corrupt", action="store_true",
                   help="leave corrupt gallery shards out (listed) instead of stopping")
    e.set_defaults(func=cmd_evaluate)

    ad = sub.add_parser("adapt", help="learn from unlabelled photos: self-training (default) or AdaBN")
    ad.add_argument("--workdir", required=True, help="a `gmcml-tf fit` run folder")
    ad.add_argument("--photos", required=True, help="folder of photos (flat or in sub-folders; labels ignored)")
    ad.add_argument("--out", required=True, help="the new run folder to write")
    ad.add_argument("--method", default="self-training", choices=["self-training", "adabn"],
                    help="self-training: pseudo-labels with the renders beside (docs/adaptation.md); "
                         "adabn: batch-norm statistics only")
    ad.add_argument("--holdout", type=float, metavar="FRACTION",
                    help="hold this fraction of each sub-folder out (by a seeded hash of the content), "
                         "to evaluate on with evaluate --holdout-of")
    ad.add_argument("--classes", metavar="A,B,...",
                    help="the classes the photos may show (default: all the run's): pseudo-labels only among these")
    ad.add_argument("--resume", action="store_true", help="finish an interrupted adapt into --out")
    ad.add_argument("--renders", help="the run's shards, if moved (default: its train.data); "
                                      "none: learn from the photos alone")
    ad.add_argument("--batch-size", type=positive_int, default=64, help="AdaBN's batch (default 64)")
    ad.add_argument("--rounds", type=positive_int, help="self-training rounds (default 4)")
    ad.add_argument("--steps-per-round", type=positive_int,
                    help="steps a round (default: about 4.5 passes over the photos, 10-100)")
    ad.add_argument("--learning-rate", type=positive_float, help="peak learning rate (default 5e-4)")
    ad.add_argument("--min-share", type=float, metavar="FRACTION",
                    help="share of the predictions a class needs for a cluster centroid (default 0.005)")
    ad.add_argument("--cluster-temperature", type=float, metavar="T",
                    help="0: each photo takes its nearest class centroid (SHOT); T > 0: the label maximises "
                         "log p(class) + cosine to its centroid / T (default 0)")
    ad.add_argument("--pseudo-labels", choices=["shot", "argmax", "agree"],
                    help="agree (the default): learn only from photos whose clustered label (SHOT) is also the "
                         "classifier's; shot: the clustered labels alone; argmax: the classifier's own")
    ad.add_argument("--smoothing-to", choices=["uniform", "teacher"],
                    help="where the pseudo-labels' smoothing mass goes: the other classes by the unadapted model's "
                         "probabilities (keeps each photo's runner-up; the default), or uniform")
    ad.add_argument("--fit", type=fit_mode, metavar=FIT_METAVAR,
                   help="photo fitting; several joined by '+' average their scores (default: eval.fit)")
    ad.add_argument("--seed", type=seed, default=0, help="the holdout split, photo draws and augmentation")
    ad.set_defaults(func=cmd_adapt)

    a = sub.add_parser("ablate", help="train and evaluate the ablations of paper Tables I-III")
    a.add_argument("--configs", default="gm_cml,gm_ml,vc,fcn,deconvnet,zigzagnet,squeezenet,alexnet_small",
                   help="comma-separated names of configs/*.yaml; NAME:KEY=VALUE[:KEY=VALUE...] is a row "
                        "with levers switched, e.g. gm_cml:augment.enabled=false")
    a.add_argument("--data", required=True, help="shards from `gmcml-tf render`")
    _photo_flags(a)
    a.add_argument("--out", required=True, help="folder for table.md, table.json and OUT/<config>/ runs")
    a.add_argument("--seeds", type=positive_int, default=1)
    a.add_argument("--set", action="append", metavar="KEY=VALUE", help="override for every config")
    a.add_argument("--no-audit", action="store_true", help="skip the background-leakage audit")
    a.add_argument("--reference", metavar="ROW",
                   help="one of --configs: every other row also gets its difference from it, paired by seed "
                        "(mean, 95%% paired-t interval, seeds won)")
    a.add_argument("--table-only", action="store_true",
                   help="fit nothing: the table of the rows finished under OUT, each with its own number of "
                        "seeds (e.g. after an interruption, or seeds run apart)")
    a.set_defaults(func=cmd_ablate)

    rp = sub.add_parser("report", help="results tables from run summaries (docs/results)").add_subparsers(
        dest="report_command", required=True)
    rs = rp.add_parser("summarize", help="a small JSON summary of an evaluated run")
    rs.add_argument("workdir", help="a `gmcml-tf fit` run folder, evaluated")
    rs.add_argument("--table", required=True, help="which results table (a folder of docs/results)")
    rs.add_argument("--row", required=True, help="the row label; seeds of one label are one row")
    rs.add_argument("--eval", help="the evaluation JSON (default RUN/evaluation/real.json)")
    rs.add_argument("--fit-seconds", type=float, help="fit wall time, for runs whose history lacks it")
    rs.add_argument("--note", help="a line printed under the table for this row")
    rs.add_argument("--out", help="default docs/results/TABLE/RUN_NAME.json")
    rs.add_argument("--path-map", action="append", metavar="OLD=NEW",
                    help="record paths starting with OLD as NEW (a scratch folder as the docs' path)")
    rs.set_defaults(func=cmd_report_summarize)
    rb = rp.add_parser("build", help="fill the results blocks of README.md and docs/*.md from docs/results")
    rb.add_argument("--root", default=".", help="the repository (default: the current folder)")
    rb.add_argument("--check", action="store_true", help="fail if the committed markdown differs")
    rb.set_defaults(func=cmd_report_build)

    from gmcml_tf.demo import DEFAULT_MODEL, MODELS
    d = sub.add_parser("demo", help="render the embedded default, train a model, evaluate, export")
    d.add_argument("--model", default=DEFAULT_MODEL, choices=list(MODELS),
                   help=f"configs/MODEL.yaml to train (default {DEFAULT_MODEL}; docs/results.md says why)")
    d.add_argument("--workdir", help="default runs/MODEL")
    d.add_argument("--data", default="data_out/quickstart")
    d.add_argument("--photos", help="real photos DIR/<category>/*.jpg (default ../shared/data/real_dev if present)")
    d.add_argument("--export", help="default saved_models/MODEL")
    d.add_argument("--seed", type=seed, default=0)
    d.add_argument("--set", action="append", metavar="KEY=VALUE", help="override configs/MODEL.yaml")
    d.set_defaults(func=cmd_demo)
