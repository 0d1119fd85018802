"""One writer per output folder: `render`, `fit`, `ablate`, `adapt` and `export` hold a lock
on the folder they write while they run.

The lock is `flock` on the folder itself, so it dies with its holder: after a `kill -9`
the same command resumes as before, and no stale lock file needs cleaning up. A small
`.writer` file beside it names the holder for the refusal message (it may outlive the
process; only the flock decides).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from pathlib import Path

from tfrecords_tools.errors import FolderBusy, UserError

WRITER_FILE = ".writer"


@contextlib.contextmanager
def hold(folder: str | Path, command: str | None = None):
    """Create `folder` if need be and hold it for this process until the block ends;
    FolderBusy naming the live holder if another process holds it."""
    folder = Path(folder)
    existed = folder.exists()
    if existed and not folder.is_dir():
        raise UserError(f"{folder} is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    locked = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderBusy(f"{folder} is being written by {_holder(folder)}; wait for it to end "
                             "or use another folder") from None
        locked = True
        what = command or " ".join(["gmcml-tf", *sys.argv[1:]])
        with contextlib.suppress(OSError):  # only for the message; a read-only folder fails later
            (folder / WRITER_FILE).write_text(f"{os.getpid()} {what}\n")
        yield folder
    finally:
        if locked:  # tidy up before the lock goes: the next holder writes its own
            with contextlib.suppress(OSError):
                (folder / WRITER_FILE).unlink()
            if not existed:  # a command that failed before writing leaves no empty folder
                with contextlib.suppress(OSError):
                    folder.rmdir()
        os.close(fd)  # releases the lock


def _holder(folder: Path) -> str:
    try:
        pid, _, what = (folder / WRITER_FILE).read_text().strip().partition(" ")
        return f"process {int(pid)} ({what})"
    except (OSError, ValueError):
        return "another process"
