"""TensorFlow's start-up chatter kept off the user's terminal (`gmcml-tf --verbose` keeps it).

TensorFlow 2.21 logs "All log messages before absl::InitializeLog() ...", "oneDNN custom
operations are on", "Could not find cuda drivers" while it is imported, through absl
before any log level applies (TF_CPP_MIN_LOG_LEVEL does not reach them), and "failed call
to cuInit" at its first op. The first import of `tensorflow` therefore runs with the
process's stderr (file descriptor 2) sent to a temporary file, which is replayed only if
the import fails; TF_CPP_MIN_LOG_LEVEL=3 silences what comes after. Errors of ours still
reach the user: they are Python exceptions, not TensorFlow log lines.
"""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys
import tempfile


@contextlib.contextmanager
def stderr_to_file():
    """Redirect file descriptor 2 for the block; what was written is shown if the block raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            tmp.seek(0)
            sys.stderr.write(tmp.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once, through the other finders, and wraps its loader."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, real):
        self.real = real

    def create_module(self, spec):
        return self.real.create_module(spec)

    def exec_module(self, module):
        with stderr_to_file():
            self.real.exec_module(module)


def silence_tensorflow() -> None:
    """Call before TensorFlow is imported; a no-op once it is."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())
