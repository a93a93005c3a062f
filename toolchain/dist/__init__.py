"""Where the work runs: in this process (the default) or on a Dask cluster.

An executor maps a function over a list of items and returns the results **in the order of the
items**, whatever ran them; every sum the project takes over those results is therefore taken in one
fixed order, and results never depend on the scheduler::

    with make_executor("local:2") as ex:        # None/"serial": this process
        net = ex.share(network)                  # sent to the workers once, not once per item
        results = ex.map(fn, items, net)         # [fn(item, network) for item in items]

``--scheduler`` values: ``serial`` (or nothing), ``local:N`` (a Dask ``LocalCluster`` of N worker
processes on this machine), ``tcp://HOST:PORT`` (join a running Dask scheduler) or the path of a Dask
scheduler file (``*.json``). Dask is an optional extra: ``pip install 'spikeline[dask]'``.
"""

from __future__ import annotations

from toolchain.dist.base import Executor, SchedulerError, available_cores, parse_scheduler
from toolchain.dist.serial import SerialExecutor


def make_executor(scheduler: str | None = None) -> Executor:
    """The executor a ``--scheduler`` value names (see the module docstring)."""
    kind, arg = parse_scheduler(scheduler)
    if kind == "serial":
        return SerialExecutor()
    from toolchain.dist.dask import DaskExecutor

    return DaskExecutor(kind, arg)


def default_threads(executor: Executor) -> int:
    """Threads each of ``executor``'s tasks may use (every core here on the serial executor; the cores per worker
    of a local cluster; one on a remote cluster, whose workers run one process per core)."""
    return executor.threads


__all__ = ["Executor", "SchedulerError", "SerialExecutor", "available_cores", "default_threads", "make_executor",
           "parse_scheduler"]
