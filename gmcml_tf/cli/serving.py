"""`gmcml-tf export | predict | serve | bench serve`: argument parsing for the deployment commands."""
from __future__ import annotations

import json

from gmcml_tf.cli.common import FIT_METAVAR, emit_json, fit_mode, non_negative_int, positive_int


def cmd_export(args) -> int:
    from gmcml_tf.serving.export import export_run
    from gmcml_tf.training.workdir import load_run
    run = load_run(args.workdir)
    out = args.out or f"saved_models/{run.config.model.recon}_{run.config.model.classifier}"
    s = export_run(run, out, fit=args.fit, version=args.version,
                   flip={"on": True, "off": False}.get(args.flip))
    print(f"exported {s['path']} ({s['size_mb']} MB; signatures serving_default (image bytes), "
          f"predict_images (float32); reload check max |dp| = {s['max_abs_probability_difference']:.1e})")
    print(f"  model card: {s['model_card']}")
    print(f"  serve: gmcml-tf serve --model {out}   or TF Serving: see README 'Serving'")
    return 0


def cmd_predict(args) -> int:
    from gmcml_tf.serving.client import predict_http, predict_local, read_images
    images = read_images(args.images)
    if args.server:
        if not args.model_name:
            raise SystemExit("gmcml-tf predict: error: --server needs --model-name")
        results = predict_http(args.server, args.model_name, images, k=args.top_k)
    else:
        if not args.model:
            raise SystemExit("gmcml-tf predict: error: give --model DIR or --server URL")
        results = predict_local(args.model, images, k=args.top_k, one_shot=True)
    if args.json:
        print(json.dumps([{"image": p, "top_k": r} for p, r in zip(args.images, results)], indent=2))
    else:
        for path, top in zip(args.images, results):
            print(f"{path}: " + ", ".join(f"{t['class']} {t['probability']:.3f}" for t in top))
    return 0


def cmd_serve(args) -> int:
    from gmcml_tf.serving.app import serve
    from gmcml_tf.serving.rest import Limits
    serve(args.model, host=args.host, port=args.port, name=args.model_name,
          limits=Limits(max_batch=args.max_batch, max_pixels=args.max_pixels,
                        max_body_bytes=args.max_body_mb * 2 ** 20),
          policy="all" if args.all_versions else "latest", poll_s=args.file_system_poll_wait_seconds,
          batching=_batching(args))
    return 0


def _batching(args):
    """TF Serving's batching flags: a --batching_parameters_file, else the four flags."""
    from gmcml_tf.errors import UserError
    from gmcml_tf.serving.batching import BatchingParameters
    if args.enable_batching == "false":
        return None
    if args.batching_parameters_file:
        path = args.batching_parameters_file
        try:
            with open(path) as f:
                return BatchingParameters.from_text(f.read(), source=path)
        except ValueError as e:
            raise UserError(str(e)) from None
    return BatchingParameters(max_batch_size=args.max_batch_size,
                              batch_timeout_micros=args.batch_timeout_micros,
                              num_batch_threads=args.num_batch_threads,
                              max_enqueued_batches=args.max_enqueued_batches)


def cmd_bench_predict(args) -> int:
    from gmcml_tf.bench.predict import bench_predict
    return emit_json(bench_predict(args.model, rounds=args.rounds), args.json)


def cmd_bench_serve(args) -> int:
    from gmcml_tf.bench.serve import bench_serve
    return emit_json(bench_serve(args.model, size=args.size, requests=args.requests,
                                 batching=args.enable_batching == "true", rounds=args.rounds,
                                 classes=args.classes), args.json)


def add_commands(sub, bench) -> None:
    e = sub.add_parser("export", help="SavedModel for TF Serving: saved_models/NAME/N")
    e.add_argument("--workdir", required=True, help="a `gmcml-tf fit` run folder")
    e.add_argument("--out", help="model base folder (default saved_models/<recon>_<classifier>)")
    e.add_argument("--version", type=positive_int, help="default: the next free integer")
    e.add_argument("--fit", type=fit_mode, metavar=FIT_METAVAR,
                   help="photo fitting; several joined by '+' average their scores (default: eval.fit)")
    e.add_argument("--flip", choices=["on", "off"],
                   help="scores averaged with the mirror image in the graph (default: eval.flip)")
    e.set_defaults(func=cmd_export)

    p = sub.add_parser("predict", help="top-k classes of images, in-process or from a server")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--model", help="saved_models/NAME or saved_models/NAME/N (in-process)")
    p.add_argument("--server", help="base URL of TF Serving or `gmcml-tf serve`")
    p.add_argument("--model-name", help="model name on the server")
    p.add_argument("--top-k", type=positive_int, default=3)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)

    s = sub.add_parser("serve", help="TF Serving's REST API (predict, status, metadata) without Docker")
    s.add_argument("--model", required=True, help="saved_models/NAME (versions below it)")
    s.add_argument("--model-name", help="name in the URL (default: the folder name)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=positive_int, default=8501)
    s.add_argument("--max-batch", type=positive_int, default=64)
    s.add_argument("--max-pixels", type=positive_int, default=4096 * 4096)
    s.add_argument("--max-body-mb", type=positive_int, default=32)
    s.add_argument("--all-versions", action="store_true",
                   help="serve every version on disk (default: the latest, as TF Serving)")
    s.add_argument("--file-system-poll-wait-seconds", type=positive_int, default=1,
                   help="how often new version folders are looked for (TF Serving's flag)")
    from gmcml_tf.serving.batching import BatchingParameters
    d = BatchingParameters()
    g = s.add_argument_group("request batching (TF Serving's --enable_batching and its parameters)")
    g.add_argument("--enable_batching", "--enable-batching", choices=["true", "false"], default="true",
                   help="merge concurrent predicts into one model call (default: true)")
    g.add_argument("--batching_parameters_file", "--batching-parameters-file",
                   help="TF Serving's text format, e.g. the batching_parameters.txt export writes")
    g.add_argument("--max_batch_size", "--max-batch-size", type=positive_int, default=d.max_batch_size)
    g.add_argument("--batch_timeout_micros", "--batch-timeout-micros", type=non_negative_int,
                   default=d.batch_timeout_micros)
    g.add_argument("--num_batch_threads", "--num-batch-threads", type=positive_int,
                   default=d.num_batch_threads)
    g.add_argument("--max_enqueued_batches", "--max-enqueued-batches", type=positive_int,
                   default=d.max_enqueued_batches)
    s.set_defaults(func=cmd_serve)

    bp = bench.add_parser("predict", help="wall time of `gmcml-tf predict IMAGE` against importing TensorFlow")
    bp.add_argument("--model", help="saved_models/NAME (default: export an untrained GM-CML)")
    bp.add_argument("--rounds", type=positive_int, default=3)
    bp.add_argument("--json", help="also write the result here")
    bp.set_defaults(func=cmd_bench_predict)

    bs = bench.add_parser("serve", help="p50/p99 latency and requests/s over HTTP on localhost")
    bs.add_argument("--model", help="saved_models/NAME (default: export an untrained GM-CML)")
    bs.add_argument("--size", type=positive_int, default=112)
    bs.add_argument("--classes", type=positive_int, default=12,
                    help="outputs of the untrained model benchmarked when --model is not given")
    bs.add_argument("--requests", type=positive_int, default=200,
                    help="requests per concurrency, over all rounds (default: 200)")
    bs.add_argument("--rounds", type=positive_int, default=3,
                    help="rounds that alternate the in-process floor and the server (default: 3)")
    bs.add_argument("--json", help="also write the result here")
    bs.add_argument("--enable_batching", "--enable-batching", choices=["true", "false"], default="true",
                    help="the server's request batching (default: true, as serve)")
    bs.set_defaults(func=cmd_bench_serve)
