"""Errors of the training, evaluation and serving side that are the user's to fix.

All derive from `tfrecords_tools.errors.UserError` (the CLI prints the one-line message and
exits 2); free of TensorFlow, so `gmcml-tf` can catch them without importing it.
"""
from __future__ import annotations

from tfrecords_tools.errors import DataError, FolderBusy, UserError

__all__ = ["UserError", "DataError", "FolderBusy", "TrainingError", "ExportError", "NotFound"]


class TrainingError(UserError):
    """Training cannot go on (a NaN/Inf loss term); the message names step and term."""


class ExportError(UserError):
    """Export cannot proceed; the message names the path."""


class NotFound(UserError):
    """Model or version unknown: HTTP 404, as TF Serving."""
