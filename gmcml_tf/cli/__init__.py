"""The `gmcml-tf` command line: main.py (the parser, main), one module per command group
(render.py, train.py, evaluate.py, serving.py) and their shared helpers (common.py)."""
from gmcml_tf.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
