"""Errors that are the user's to fix: the CLI prints their one-line message and exits 2.

They live here, free of TensorFlow, so `gmcml-tf` can catch them without importing it.
"""


class TrainingError(Exception):
    """Training cannot go on (a NaN/Inf loss term); the message names step and term."""


class ExportError(Exception):
    """Export cannot proceed; the message names the path."""


class NotFound(Exception):
    """Model or version unknown: HTTP 404, as TF Serving."""


class DataError(ValueError):
    """The data folder or a shard is unusable; the message is one line naming the path."""
