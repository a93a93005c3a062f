"""Kills lose nothing: ``spikeline train`` killed with SIGKILL (during an epoch, during a checkpoint write)
and resumed gives the network and metrics of an uninterrupted run bit for bit; a kill during an atomic
write leaves the old file; a second run into a folder in use is refused; a dead run's lock is replaced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolchain.cli import main

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["train", "--task", "yinyang", "--epochs", "12", "--train-subset", "160", "--hidden", "8", "--set",
        "val_subset=16", "--workers", "1", "--quiet"]
RESULT_FILES = ("network.json", "metrics.jsonl")

#: run ``spikeline train`` in a child; when the checkpoint of epoch KILL_AT is written (temporary file
#: complete, not yet renamed over last.ckpt), touch MARKER and wait to be killed
HARNESS = """
import os, sys, time
real_replace = os.replace
count = 0
def replace(src, dst):
    global count
    if str(dst).endswith("last.ckpt"):
        count += 1
        if count == int(os.environ["KILL_AT"]):
            open(os.environ["MARKER"], "w").close()
            time.sleep(600)
    return real_replace(src, dst)
os.replace = replace
from toolchain.cli import main
main(sys.argv[1:])
"""


def child(args: list[str], **env) -> subprocess.Popen:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=environ, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 400.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"the child ended early: {proc.stderr.read().decode()[-2000:]}"
        if time.monotonic() > deadline:  # a watchdog, so a hang fails instead of blocking the suite
            pytest.fail("timed out waiting for the child")
        time.sleep(0.05)


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    res = CliRunner().invoke(main, [*ARGS, "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def resume_and_compare(out: Path, reference: Path) -> str:
    res = CliRunner().invoke(main, [*ARGS, "--out", str(out), "--resume"])
    assert res.exit_code == 0, res.output
    for name in RESULT_FILES:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    assert not (out / ".spikeline.lock").exists()
    return res.output


@pytest.mark.slow
def test_kill_during_an_epoch_then_resume_and_the_lock(tmp_path, reference):
    out = tmp_path / "run"
    proc = child(["-m", "toolchain.cli", *ARGS, "--out", str(out)])
    wait_for(lambda: (out / "last.ckpt").exists(), proc)  # epoch 1 done, epoch 2 under way
    proc.send_signal(signal.SIGSTOP)  # hold it mid-run (however fast the machine), alive
    assert proc.poll() is None and not (out / "summary.json").exists(), "the run ended before it was stopped"
    # a second run into the same folder is refused while the first one lives
    second = CliRunner().invoke(main, [*ARGS, "--out", str(out)])
    assert second.exit_code == 2
    assert f"another training run (pid {proc.pid} on" in second.output
    kill(proc)
    # the dead run's lock is still there; resuming replaces it and says so
    assert (out / ".spikeline.lock").read_text().split()[0] == str(proc.pid)
    output = resume_and_compare(out, reference)
    assert f"replacing the lock of training run pid {proc.pid}, which is no longer running" in output


@pytest.mark.slow
def test_kill_during_a_checkpoint_write_then_resume(tmp_path, reference):
    out, marker = tmp_path / "run", tmp_path / "writing"
    proc = child(["-c", HARNESS, *ARGS, "--out", str(out)], KILL_AT="3", MARKER=str(marker))
    wait_for(marker.exists, proc)
    before = (out / "last.ckpt").read_bytes()  # epoch 2's checkpoint; epoch 3's is being written
    assert list(out.glob(".last.ckpt.*.tmp")), "the new checkpoint should be on disk, not yet renamed"
    kill(proc)
    assert (out / "last.ckpt").read_bytes() == before
    from toolchain.train.checkpoint import load_checkpoint

    assert load_checkpoint(out / "last.ckpt").epoch == 2
    resume_and_compare(out, reference)


WRITER = """
import sys, time
from hw_models.atomic import atomic_open
with atomic_open(sys.argv[1], "wb") as fh:
    fh.write(b"new" * 1000)
    fh.flush()
    open(sys.argv[2], "w").close()
    time.sleep(600)
"""


@pytest.mark.parametrize("existing", [True, False])
def test_kill_during_an_atomic_write_leaves_the_old_file(tmp_path, existing):
    target, marker = tmp_path / "data.bin", tmp_path / "writing"
    if existing:
        target.write_bytes(b"old contents")
    proc = child(["-c", WRITER, str(target), str(marker)])
    wait_for(marker.exists, proc, timeout=60)
    kill(proc)
    if existing:
        assert target.read_bytes() == b"old contents"
    else:
        assert not target.exists()
