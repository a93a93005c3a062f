"""On a real Dask LocalCluster (2 worker processes): training is bit-identical to one process, also when a worker
process is killed mid-run; a run whose scheduler goes away resumes from its checkpoint to the same result; sharded
verification equals one process."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from toolchain.dist import SchedulerError, make_executor
from toolchain.network import Network
from toolchain.train import load_checkpoint
from toolchain.train.trainer import TrainConfig, train

pytest.importorskip("distributed")

DT = 0.5e-3
# 5-24-3 Yin-Yang, 64 training samples in batches of 16: four steps an epoch
RUN = dict(task="yinyang", dt=0.5e-3, hidden=[24], dash_syn=[3, 3], dash_mem=[5, 5],
           init_psp=[[0.4, 0.15], [0.15, 0.02]], loss="first-spike", loss_options={"tau0": 1e-3}, t_end=0.06,
           batch_size=16, lr=3e-3, gamma=0.97, train_subset=64, val_subset=16, seed=3)


@pytest.fixture(scope="module")
def cluster():
    with make_executor("local:2") as ex:
        yield ex


@pytest.fixture(scope="module")
def serial_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    train(TrainConfig(**RUN, epochs=3), out)
    return out


def assert_same_run(a: Path, b: Path) -> None:
    """Same network and metrics bytes, same checkpoint apart from the wall-clock time it records."""
    assert (a / "network.json").read_bytes() == (b / "network.json").read_bytes()
    assert (a / "metrics.jsonl").read_bytes() == (b / "metrics.jsonl").read_bytes()
    ca, cb = load_checkpoint(a / "last.ckpt"), load_checkpoint(b / "last.ckpt")
    assert ca.epoch == cb.epoch and ca.history == cb.history and ca.rng_state == cb.rng_state
    assert ca.params.keys() == cb.params.keys()
    for k in ca.params:
        assert np.array_equal(ca.params[k], cb.params[k])
    assert json.dumps(ca.optimizer, default=lambda x: np.asarray(x).tolist()) == \
        json.dumps(cb.optimizer, default=lambda x: np.asarray(x).tolist())
    extra_a = {k: v for k, v in ca.extra.items() if k != "wall_seconds"}
    extra_b = {k: v for k, v in cb.extra.items() if k != "wall_seconds"}
    assert json.dumps(extra_a, default=lambda x: np.asarray(x).tolist(), sort_keys=True) == \
        json.dumps(extra_b, default=lambda x: np.asarray(x).tolist(), sort_keys=True)


def test_local_workers_run_without_the_profiler_and_the_malloc_trim_threshold(cluster):
    """Both made a worker slower than one process (docs/scaling.md): the profiler thread walks the task's
    stack every 10 ms; MALLOC_TRIM_THRESHOLD_ makes glibc map and unmap every array above 64 kB."""
    env = cluster.client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert len(env) == 2 and set(env.values()) == {None}
    profiling = cluster.client.run(lambda dask_worker: sorted(k for k in dask_worker.periodic_callbacks
                                                              if k.startswith("profile")))
    assert set(map(tuple, profiling.values())) == {()}
    assert all(cluster.client.run(lambda dask_worker: "heartbeat" in dask_worker.periodic_callbacks).values())


def test_two_workers_give_the_serial_run_bit_for_bit(cluster, serial_run, tmp_path):
    assert cluster.workers == 2
    result = train(TrainConfig(**RUN, epochs=3), tmp_path, executor=cluster)
    assert result.summary["scheduler"] == "local:2"
    assert len(result.history) == 3 and result.history[-1]["loss"] != result.history[0]["loss"]  # it trained
    assert_same_run(serial_run, tmp_path)


def test_a_worker_killed_mid_run_changes_nothing(cluster, serial_run, tmp_path):
    pids_before = cluster.client.run(os.getpid)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            train(TrainConfig(**RUN, epochs=3), tmp_path, executor=cluster)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    metrics = tmp_path / "metrics.jsonl"
    deadline = time.monotonic() + 600
    while not (metrics.exists() and metrics.read_text().count("\n") >= 1) and thread.is_alive():
        if time.monotonic() > deadline:  # a watchdog, so a hang fails instead of blocking the suite
            pytest.fail("the awaited event did not happen")
        time.sleep(0.02)
    killed_during_run = thread.is_alive() and metrics.read_text().count("\n") < 3
    os.kill(next(iter(pids_before.values())), signal.SIGKILL)
    thread.join()
    assert not errors, errors
    assert killed_during_run  # the kill landed while epochs were still to run
    cluster.client.wait_for_workers(2, timeout=300)
    assert set(cluster.client.run(os.getpid).values()) != set(pids_before.values())  # a new worker process
    assert_same_run(serial_run, tmp_path)


def test_a_scheduler_that_goes_away_ends_with_a_clear_error_and_resume_continues_bit_exactly(serial_run, tmp_path):
    executor = make_executor("local:1")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            train(TrainConfig(**RUN, epochs=3), tmp_path, executor=executor)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    ckpt = tmp_path / "last.ckpt"
    deadline = time.monotonic() + 600
    while not ckpt.exists() and thread.is_alive():
        if time.monotonic() > deadline:  # a watchdog, so a hang fails instead of blocking the suite
            pytest.fail("the awaited event did not happen")
        time.sleep(0.02)
    executor._cluster.scheduler.stop() if hasattr(executor._cluster.scheduler, "stop") else None
    executor._cluster.close()
    thread.join(timeout=600)
    executor.close()
    assert len(errors) == 1 and isinstance(errors[0], SchedulerError), errors
    assert "went away" in str(errors[0]) and "--resume" in str(errors[0])
    done = load_checkpoint(ckpt).epoch
    assert 1 <= done < 3
    train(TrainConfig(**RUN, epochs=3), tmp_path, resume=True)
    assert_same_run(serial_run, tmp_path)


def test_sharded_verify_equals_one_process(cluster):
    from toolchain.compile import compile_network
    from toolchain.verify import verify
    from toolchain.verify.report import to_dict

    net = Network.random([5, 40, 3], seed=3, tau_syn=-DT / np.log(1 - 2**-3), tau_mem=-DT / np.log(1 - 2**-5),
                         weight_mean=[0.6, 0.4], weight_std=[0.8, 0.6], delays=[0, DT], dt=DT)
    net.metadata.update(task="yinyang", task_options={"dt": DT}, t_end=0.06, decision="first-spike")
    config, _ = compile_network(net, "xylo-audio2")
    one = verify(net, config, limit=90)
    sharded = verify(net, config, limit=90, executor=cluster)
    assert 0 < one.accuracy("bit-accurate") and one.models["bit-accurate"].spike_counts[0].sum() > 0
    a, b = to_dict(one), to_dict(sharded)
    a.pop("seconds"), b.pop("seconds")  # wall-clock time, not a result
    assert json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)
    for name in one.models:
        a, b = one.models[name], sharded.models[name]
        assert np.array_equal(a.predictions, b.predictions)
        for x, y in zip(a.spike_counts + a.first_times, b.spike_counts + b.first_times, strict=True):
            assert np.array_equal(x, y)
    assert all(np.array_equal(x, y) for x, y in zip(one.sample_chip_layers, sharded.sample_chip_layers, strict=True))


def _calibration_net() -> Network:
    net = Network.random([5, 40, 3], seed=3, tau_syn=-DT / np.log(1 - 2**-3), tau_mem=-DT / np.log(1 - 2**-5),
                         weight_mean=[0.6, 0.4], weight_std=[0.8, 0.6], delays=[0, DT], dt=DT)
    net.metadata.update(task="yinyang", task_options={"dt": DT}, t_end=0.06, decision="first-spike")
    return net


def _config_bytes(text: str) -> str:
    """A saved configuration without the wall-clock time its provenance records."""
    doc = json.loads(text)
    doc["provenance"].pop("created")
    return json.dumps(doc, separators=(",", ":"))


def test_sharded_calibration_equals_one_process(cluster):
    from distributed import get_task_stream

    from toolchain.compile import compile_network

    one, report_one = compile_network(_calibration_net(), "xylo-audio2")
    with get_task_stream(client=cluster.client) as stream:
        sharded, report_sharded = compile_network(_calibration_net(), "xylo-audio2", executor=cluster)
    assert len(report_one.candidates) > 1 and max(c["samples"] for c in report_one.candidates) == 1000  # calibrated
    assert _config_bytes(one.to_json()) == _config_bytes(sharded.to_json())
    assert json.dumps(report_one.to_dict(), sort_keys=True, default=str) == \
        json.dumps(report_sharded.to_dict(), sort_keys=True, default=str)
    # the simulations and the float forward passes ran on both workers
    ran = {}
    for task in stream.data:
        ran.setdefault(task["key"].split("-")[0], set()).add(task["worker"])
    assert len(ran.get("_summary_shard", ())) == 2 and len(ran.get("_forward_shard", ())) == 2, ran


def test_compile_command_with_a_local_cluster_writes_the_serial_configuration(tmp_path):
    from click.testing import CliRunner

    from toolchain.cli import main

    net = _calibration_net()
    net.save(tmp_path / "network.json")
    paths = {}
    for scheduler in ("serial", "local:2"):
        paths[scheduler] = tmp_path / f"{scheduler.replace(':', '')}.json"
        result = CliRunner().invoke(main, ["compile", str(tmp_path / "network.json"), "--chip", "xylo-audio2",
                                          "--out", str(paths[scheduler]), "--scheduler", scheduler, "--json"])
        assert result.exit_code == 0, result.output
    assert _config_bytes(paths["serial"].read_text()) == _config_bytes(paths["local:2"].read_text())
    assert (tmp_path / "serial.report.json").read_bytes() == (tmp_path / "local2.report.json").read_bytes()
