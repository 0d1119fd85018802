"""One writer per folder: a second render / fit / export into a folder a live process holds is
refused with one line naming that process; the lock dies with its holder (kill -9)."""
import os
import signal
import subprocess
import sys

import pytest

from test_bad_input_corpus import REPO, RENDER, assert_one_error_line, cli
from tfrecords_tools.errors import FolderBusy
from tfrecords_tools.folder_lock import WRITER_FILE, hold

HOLDER = ("import sys, time\n"
          "from tfrecords_tools.folder_lock import hold\n"
          "with hold(sys.argv[1], 'gmcml-tf fit --workdir ' + sys.argv[1]):\n"
          "    print('held', flush=True)\n"
          "    time.sleep(120)\n")


@pytest.fixture
def held(tmp_path):
    """A live process (not this one) holding tmp_path/'busy'; yields (folder, process)."""
    folder = tmp_path / "busy"
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE,
                         text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert p.stdout.readline().strip() == "held"
    yield folder, p
    p.kill()
    p.wait()


def test_a_held_folder_is_refused_naming_the_holder(held):
    folder, p = held
    with pytest.raises(FolderBusy, match=rf"process {p.pid} \(gmcml-tf fit --workdir"):
        with hold(folder):
            pass


def test_render_and_fit_into_a_held_folder_exit_2_with_one_line(held, capsys, smoke_render):
    folder, p = held
    code, _, err = cli(capsys, *RENDER, "--out", folder)
    assert_one_error_line(code, err, str(folder), f"process {p.pid}")
    assert not list(folder.glob("*.tfrecord"))
    code, _, err = cli(capsys, "fit", "--config", REPO / "configs/smoke.yaml", "--data", smoke_render[0].out,
                       "--workdir", folder, "--no-progress")
    assert_one_error_line(code, err, str(folder), f"process {p.pid}")
    assert not (folder / "config.yaml").exists() and not (folder / "checkpoints").exists()


def test_the_lock_dies_with_a_killed_holder_and_the_render_then_runs(held, capsys):
    folder, p = held
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert (folder / WRITER_FILE).exists()      # the stale note does not block anyone
    code, _, err = cli(capsys, *RENDER, "--out", folder)
    assert code == 0, err
    assert list(folder.glob("*.tfrecord")) and not (folder / WRITER_FILE).exists()


def test_a_failed_command_leaves_no_folder_it_created(tmp_path):
    with pytest.raises(RuntimeError):
        with hold(tmp_path / "new"):
            raise RuntimeError("bad input found after the lock")
    assert not (tmp_path / "new").exists()
    with hold(tmp_path / "kept"):
        (tmp_path / "kept" / "result").write_text("x")
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["result"]
