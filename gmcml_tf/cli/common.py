"""What every command module shares: argument types and how a benchmark prints its result."""
from __future__ import annotations

import argparse
import json

from gmcml_tf.preprocess import FIT_MODES, fit_modes  # no TensorFlow at import
from tfrecords_tools.configlib import SEED_MAX


FIT_METAVAR = "|".join(FIT_MODES) + "[+...]"


def fit_mode(text: str) -> str:
    """--fit: one of FIT_MODES, or several joined by '+' (stretch+crop)."""
    try:
        fit_modes(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("fit: ")) from None
    return text


def _number(cast, noun: str, ok, bound: str):
    """An argparse type: `cast(text)` or "TEXT is not NOUN", then `ok(value)` or "TEXT must be BOUND"."""
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} must be {bound}")
        return value
    return parse


positive_int = _number(int, "an integer", lambda v: v >= 1, ">= 1")
positive_float = _number(float, "a number", lambda v: v > 0, "> 0")   # NaN fails v > 0 too


def non_negative_int(text: str) -> int:
    return 0 if text.strip() == "0" else positive_int(text)


def seed(text: str) -> int:
    """--seed: an integer from 0 to 2**32 - 1 (what numpy and TensorFlow take)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{text!r}: a seed is an integer from 0 to {SEED_MAX}")
    return value


def emit_json(result: dict, path: str | None) -> int:
    """A benchmark's result: printed, and written atomically to `path` when given."""
    print(json.dumps(result, indent=2))
    if path:
        from tfrecords_tools.writer import write_json_atomic
        write_json_atomic(path, result)
    return 0
