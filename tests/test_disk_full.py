"""Issue 7, resources: the disk fills up while shards are written.

A real full disk (a small tmpfs; needs permission to mount, else skipped with the reason)
and a per-process file-size limit (RLIMIT_FSIZE: works for any user; spawned render
workers inherit it). Either way: exit 2 with one line naming the file, no temporary file
left, every complete shard intact, and a re-run with room finishes byte-identical.
"""
from __future__ import annotations

import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

CMD = [sys.executable, "-m", "gmcml_tf.cli", "render", "--config", str(REPO / "configs/smoke.yaml"),
       "--workers", "2", "--no-progress"]


def _render(out: Path, preexec=None):
    return subprocess.run([*CMD, "--out", str(out)], capture_output=True, text=True, cwd=REPO,
                          preexec_fn=preexec, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def _check_failed_cleanly(r, out: Path, ref: Path) -> None:
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("gmcml-tf: error: ") and "cannot write" in line and str(out) in line
    assert "Traceback" not in r.stderr
    assert not [p for p in out.rglob("*.tmp")], "a temporary file was left"
    assert not (out / "manifest.json").exists()
    for shard in out.glob("*.tfrecord"):  # whatever is complete is exactly the reference's shard
        assert shard.read_bytes() == (ref / shard.name).read_bytes(), shard.name
        assert (out / ".meta" / f"{shard.name}.json").is_file()


def _same_as(out: Path, ref: Path) -> None:
    names = sorted(p.name for p in ref.glob("*.tfrecord"))
    assert sorted(p.name for p in out.glob("*.tfrecord")) == names
    assert [n for n in names if (out / n).read_bytes() != (ref / n).read_bytes()] == []


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    ref = tmp_path_factory.mktemp("ref") / "out"
    assert _render(ref).returncode == 0
    return ref


def test_disk_full_on_a_real_tmpfs(reference, tmp_path):
    mnt = tmp_path / "small_disk"
    mnt.mkdir()
    total = sum(p.stat().st_size for p in reference.rglob("*") if p.is_file())
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={total // 2}", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or 'not permitted'})")
    try:
        out = mnt / "out"
        _check_failed_cleanly(_render(out), out, reference)
        assert list(out.glob("*.tfrecord")), "the disk should have held some complete shards"
        subprocess.run(["mount", "-o", f"remount,size={total * 2}", str(mnt)], check=True)
        r = _render(out)
        assert r.returncode == 0, r.stderr
        _same_as(out, reference)
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def test_file_size_limit_fails_cleanly_then_resumes(reference, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    (out / "manifest.json").unlink()
    for shard in sorted(out.glob("*.tfrecord"))[1::2]:  # half the shards left to write
        shard.unlink()
    limit = min(p.stat().st_size for p in reference.glob("*.tfrecord")) // 2

    def small_files():  # writes past `limit` bytes fail with EFBIG instead of killing the process
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    _check_failed_cleanly(_render(out, small_files), out, reference)
    r = _render(out)
    assert r.returncode == 0, r.stderr
    _same_as(out, reference)
