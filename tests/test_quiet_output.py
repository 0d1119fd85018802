"""What a user sees: no TensorFlow start-up chatter, and a line per epoch in logs and pipes."""
import os
import subprocess
import sys

from conftest import REPO

CHATTER = ("absl::InitializeLog", "cuda drivers", "cuInit", "oneDNN custom operations")


def _gmcml(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP")}
    return subprocess.run([sys.executable, "-m", "gmcml_tf.cli", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=600, env={**env, **(env_extra or {})})


def test_fit_in_a_pipe_prints_a_line_per_epoch_and_no_tensorflow_chatter(smoke_render, tmp_path):
    r = _gmcml("fit", "--config", "configs/smoke.yaml", "--data", smoke_render[0].out,
               "--workdir", tmp_path / "run")
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stdout                       # no progress bar redrawn into the log
    epochs = [line for line in r.stdout.splitlines() if line.startswith("Epoch ")]
    assert len(epochs) == 4                           # 2 stages x 2 epochs, one line each
    assert not [c for c in CHATTER if c in r.stderr], r.stderr


def test_help_says_what_the_tool_does():
    r = _gmcml("--help")
    assert r.returncode == 0
    assert "real photos from 3D models" in r.stdout and "argument parsing" not in r.stdout
    assert "--verbose" in r.stdout
