"""The one base of every error that is the user's to fix.

`gmcml-tf` catches `UserError` alone: it prints the one-line message (which names the
file, key or field) and exits 2, with no traceback. Anything else is our bug and keeps
its traceback. TensorFlow-free, so the CLI can catch these without importing it.
"""
from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; str(e) is one line that says what and where."""


class DataError(UserError, ValueError):
    """A data folder, shard or record that cannot be used; the message names the path."""


class FolderBusy(UserError):
    """Another live process is writing into the folder (folder_lock.py)."""
