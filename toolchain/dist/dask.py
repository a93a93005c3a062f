"""Run work on a Dask cluster: a ``LocalCluster`` here, or any running scheduler (SSH, Kubernetes, HPC).

* Objects every task needs (the network of a step, the data of a run) are sent once to every worker
  (:meth:`DaskExecutor.share`); tasks take them by reference.
* Every worker compiles the numba kernels once when it starts (a worker plugin runs a tiny forward pass and
  gradient), so no task pays for compilation; a worker restarted after a crash warms up again.
* The same plugin stops the worker's statistical profiler (a thread that walks the task's Python stack every
  10 ms): on HM2-BP's per-sample path one worker took 4.26 s per epoch with it, 2.25 s without.
* Local workers start without Dask's ``MALLOC_TRIM_THRESHOLD_=65536``: with it glibc maps and unmaps every
  array above 64 kB, and the page faults (3x as many, system time 0.3-0.7 s per 512 HM2-BP samples) made two
  workers no faster than one process. Remote workers are started by their own ``dask worker``: docs/scaling.md.
* No ``NUMBA_NUM_THREADS`` in the workers' environment: a spawned worker imports numba (with the caller's
  modules) before Dask applies it, and numba then refused every compilation inside a task ("Cannot set
  NUMBA_NUM_THREADS to a different value once the threads have been launched"). It never limited the workers'
  numba pool either (numba had read its thread count already); the batched engine gets its thread count as an
  argument (:func:`toolchain.dist.default_threads`).
* A worker killed mid-task loses nothing: Dask runs its tasks again on another worker; if the data a task
  needs was lost with it, the shared objects are scattered again and the map is repeated. Tasks are pure
  functions of their inputs, so the repeat gives the same result bit for bit.
* A scheduler that goes away ends the work with :class:`SchedulerError` (the caller keeps its last checkpoint).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from toolchain.dist.base import Executor, SchedulerError, available_cores

try:
    import dask
    import distributed
except ImportError:  # the optional extra is not installed: DaskExecutor says so
    distributed = None

#: how often a map is repeated after its workers or their data were lost
MAX_REPEATS = 3
#: seconds a broadcast of a shared object may take before one copy is scattered instead (:meth:`DaskExecutor._scatter`)
BROADCAST_TIMEOUT = 5.0


def warm_up() -> str:
    """Compile the kernels in this process: a forward pass and an FP gradient on tiny networks (every loss,
    recurrent), an HM2-BP gradient, and the bit-accurate simulator on a tiny configuration."""
    import numpy as np

    from hw_models.config import ChipConfig
    from hw_models.simulator import simulate
    from toolchain.grad.api import loss_and_grad
    from toolchain.losses import LOSSES
    from toolchain.network import Network

    sample = (np.array([0.001, 0.002, 0.003]), np.array([0, 1, 0]))
    for loss_type in LOSSES.values():
        loss = loss_type()
        net = Network.random([2, 3, 2], seed=0, weight_mean=3.0, readout=loss.readout, recurrent_std=0.5)
        loss_and_grad(net, [sample], [0], loss, t_end=0.02)
    net = Network.random([2, 3, 2], seed=0, weight_mean=3.0)
    loss_and_grad(net, [sample], [0], LOSSES["count-mse"](), t_end=0.02, engine="hm2bp")
    config = ChipConfig.create("xylo-audio2", 1e-3, weights_in=np.ones((2, 3), int), weights_out=np.ones((3, 2), int),
                               threshold=10, threshold_out=10)
    simulate(config, np.ones((2, 4, 2), np.int64))
    return "ok"


class _WarmUp(distributed.WorkerPlugin if distributed is not None else object):
    """Worker plugin: stop the worker's profiler and compile the kernels as each worker starts."""

    name = "spikeline-warm-up"

    async def setup(self, worker) -> None:
        for name in ("profile", "profile-cycle"):  # `distributed.worker.profile.enabled: false`, on any cluster
            callback = worker.periodic_callbacks.pop(name, None)
            if callback is not None:
                callback.stop()
        # compile in a thread: the worker keeps answering the scheduler and its peers meanwhile
        await asyncio.get_running_loop().run_in_executor(None, warm_up)


class Shared:
    """An object scattered to the workers, and the object itself (to scatter it again if a worker loses it).
    The workers' copies are freed when the handle is dropped."""

    def __init__(self, obj: Any, future: Any):
        self.obj, self.future = obj, future


class DaskExecutor(Executor):
    def __init__(self, kind: str, arg: Any):
        self._cluster = None
        if distributed is None:
            raise SchedulerError("the Dask executor needs dask.distributed: pip install 'spikeline[dask]' (or use "
                                 "--scheduler serial)")
        try:
            if kind == "local":
                self.threads = max(1, available_cores() // arg)
                with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
                    self._cluster = distributed.LocalCluster(
                        n_workers=arg, threads_per_worker=1, processes=True, dashboard_address=None,
                        silence_logs=logging.ERROR,
                        env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
                self.client = distributed.Client(self._cluster)
                self.name = f"local:{arg}"
            elif kind == "address":
                self.client = distributed.Client(arg, timeout="20s")
                self.name = arg
            else:
                self.client = distributed.Client(scheduler_file=arg, timeout="20s")
                self.name = arg
        except (OSError, TimeoutError) as exc:
            self.close()
            raise SchedulerError(f"cannot reach the Dask scheduler {arg}: {exc}; start one with `dask scheduler` "
                                 "or use --scheduler local:N") from None
        self.client.register_plugin(_WarmUp(), name=_WarmUp.name)
        if kind == "local":
            self.client.wait_for_workers(arg)
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})))

    # -- the executor interface ---------------------------------------------------------------------------------
    def share(self, obj: Any) -> Shared:
        return Shared(obj, self._scatter(obj))

    def map(self, fn: Callable[..., Any], items: Sequence[Any], *shared: Any) -> list[Any]:
        lost = (distributed.KilledWorker, distributed.client.FutureCancelledError)
        for attempt in range(MAX_REPEATS + 1):
            args = [s.future if isinstance(s, Shared) else s for s in shared]
            try:
                # one graph update for the whole map (a submit per item costs a scheduler message each)
                futures = self.client.map(fn, list(items), *([a] * len(items) for a in args), pure=False)
                return self._call(lambda futures=futures: self.client.gather(futures))
            except lost as exc:
                if attempt == MAX_REPEATS:
                    raise SchedulerError(f"Dask lost the work {MAX_REPEATS + 1} times ({type(exc).__name__}: "
                                         f"{exc}); check the workers' logs") from None
                for s in shared:  # the copies on the workers may have gone with a worker: send them again
                    if isinstance(s, Shared):
                        s.future = self._scatter(s.obj)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        client, cluster = getattr(self, "client", None), self._cluster
        self._cluster = None
        for thing in (client, cluster):
            if thing is not None:
                try:
                    thing.close()
                except Exception:  # noqa: BLE001 - closing a cluster that is already gone
                    pass

    # -- helpers ----------------------------------------------------------------------------------------------
    def _scatter(self, obj: Any) -> Any:
        """A copy on every worker, each sent by the client (no worker waits to fetch it from a busy peer: two
        local workers went from 1.48x to 1.64x of one core on MNIST-5k HM2-BP, docs/scaling.md). A broadcast
        waits for a worker that is restarting after a crash and fails on one that has just died, so then (or
        after :data:`BROADCAST_TIMEOUT` seconds) one copy is scattered instead and the others fetch it from there
        when their first task needs it. If the scheduler itself has gone, that fails too (:meth:`_call`)."""
        def scatter() -> Any:
            try:
                return self.client.scatter(obj, hash=False, broadcast=True, timeout=BROADCAST_TIMEOUT)
            except (distributed.comm.core.CommClosedError, OSError, TimeoutError):
                return self.client.scatter(obj, hash=False)

        return self._call(scatter)

    def _call(self, fn: Callable[[], Any]) -> Any:
        comm_closed = distributed.comm.core.CommClosedError
        try:
            return fn()
        except (comm_closed, OSError, TimeoutError) as exc:
            raise SchedulerError(f"the Dask scheduler {self.name} went away ({type(exc).__name__}); the last "
                                 "checkpoint is kept: start a scheduler again and rerun with --resume") from None
