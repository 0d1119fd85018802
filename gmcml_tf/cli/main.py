"""`gmcml-tf`: the parser of every command, and `main`, which turns a `UserError` into one
line on stderr and exit status 2 (no traceback). Each command module parses its arguments
and calls into the modules that do the work; heavy imports (TensorFlow) happen only in the
commands that need them."""
from __future__ import annotations

import argparse
import sys

from gmcml_tf.cli import evaluate, render, serving, train

DESCRIPTION = """\
Object recognisers for real photos from 3D models alone: render paired training data
(RGB, semantic mask, depth) from textured meshes, train GM-CML (Wang & Deng, arXiv
1705.08590) or its classifier alone (ZigzagNet, the recommended default), measure it on real
photos, and export a SavedModel that TF Serving serves."""

EPILOG = """\
start with `make demo` (README), or: render --config configs/quickstart.yaml, then
fit --config configs/zigzagnet.yaml (or configs/gm_cml.yaml); `gmcml-tf COMMAND --help` for a
command's options."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gmcml-tf", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--verbose", action="store_true",
                   help="show TensorFlow's own log lines (start-up, devices), hidden by default")
    sub = p.add_subparsers(dest="command", required=True)
    render.add_commands(sub)   # in workflow order, as --help lists them
    train.add_commands(sub)
    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench_command", required=True)
    render.add_bench(bench)
    train.add_bench(bench)
    evaluate.add_commands(sub)
    serving.add_commands(sub, bench)
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
