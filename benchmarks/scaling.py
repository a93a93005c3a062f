"""Data-parallel training on Dask: seconds per epoch with serial / local:1 / local:2, speed-up, efficiency, the
measured Dask overhead per task and per step, and a projection to larger clusters. Writes a section of
docs/benchmarks.md (one per task and batch size, "scaling-TASK[-batchB]") and runs/scaling/scaling-TASK-B.json.

    python benchmarks/scaling.py                      # FSDD (the largest task present), 256 training samples
    python benchmarks/scaling.py --task yinyang --samples 1000
    python benchmarks/scaling.py --task mnist5k --chip examples/chips/mnist-196.json --samples 512   # HM2-BP

A 1-epoch run on 32 samples first compiles the kernels (in this process and on the workers); the steady-state
epoch is then (time of 3 epochs - time of 1 epoch) / 2, which removes the rest of the start-up (data loading).
Every run's network is asserted bit-identical to the serial run's.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmarks.report import machine, update_section
from toolchain.dist import make_executor
from toolchain.train.presets import preset_config
from toolchain.train.trainer import train

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs" / "scaling"
#: row name -> (scheduler, cores this process may use: None = all). "serial, 1 core" is the unit of data
#: parallelism (one worker = one core); the default serial run already uses every core in the batched engine.
ROWS = {"serial": ("serial", None), "serial, 1 core": ("serial", 1), "local:1": ("local:1", None),
        "local:2": ("local:2", None)}


@contextmanager
def cores(n: int | None):
    """Run the block on the first ``n`` cores of this process (all when ``None``)."""
    before = os.sched_getaffinity(0)
    if n is not None:
        os.sched_setaffinity(0, sorted(before)[:n])
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


#: the long run's epochs: steady state per epoch = (its time - a 1-epoch run's) / (LONG - 1)
LONG = 5


def epoch_seconds(task: str, samples: int, row: str, overrides: dict) -> tuple[float, float, bytes]:
    """(steady-state seconds per epoch, start-up seconds, network bytes) for a row of :data:`ROWS`."""
    scheduler, n_cores = ROWS[row]
    seconds, tag = {}, row.replace(":", "").replace(", ", "-").replace(" ", "")
    with cores(n_cores), make_executor(scheduler) as ex:
        warm = preset_config(task, epochs=1, train_subset=32, val_subset=8, **overrides)  # JIT + worker warm-up
        train(warm, RUNS / f"{task}-{tag}-warm", executor=ex, evaluate_test=False)
        for epochs in (1, LONG):
            config = preset_config(task, epochs=epochs, train_subset=samples, val_subset=64, **overrides)
            out = RUNS / f"{task}-{tag}-{epochs}"
            start = time.perf_counter()
            train(config, out, executor=ex, evaluate_test=False)
            seconds[epochs] = time.perf_counter() - start
    epoch = (seconds[LONG] - seconds[1]) / (LONG - 1)
    return epoch, seconds[1] - epoch, (out / "network.json").read_bytes()


def _noop(item, *shared):
    return item


def dask_overheads(task: str, overrides: dict, repeats: int = 30) -> dict[str, float]:
    """Seconds per empty task, and per training step's fixed cost (network broadcast + 4 empty shard tasks),
    on a local:2 cluster, with the task's own network."""
    config = preset_config(task, **overrides)
    from toolchain.data import load_task
    from toolchain.train.trainer import build_network, initial_parameters, layer_sizes

    t = load_task(config.task, **config.task_options)
    sizes = layer_sizes(config, t)
    net = build_network(config, sizes, initial_parameters(config, sizes, 1))
    with make_executor("local:2") as ex:
        ex.map(_noop, list(range(8)))
        start = time.perf_counter()
        for _ in range(repeats):
            ex.map(_noop, list(range(64)))
        per_task = (time.perf_counter() - start) / (repeats * 64)
        start = time.perf_counter()
        for _ in range(repeats):
            ex.map(_noop, list(range(4)), ex.share(net))
        per_step = (time.perf_counter() - start) / repeats
    n_params = sum(w.size for w in net.weights) + sum(th.size for th in net.threshold if th is not None)
    return {"per_task": per_task, "per_step": per_step, "network_parameters": int(n_params)}


def projection(t_sample: float, overhead_step: float, per_task: float, n_params: int, batch: int,
               workers: int, n_samples: int = 60_000, bandwidth: float = 1e9) -> dict[str, float]:
    """Epoch seconds on ``workers`` for ``n_samples`` (see docs/scaling.md for the formula)."""
    steps = n_samples / batch
    busy = min(workers, batch)  # data parallelism inside a minibatch: at most one sample per worker
    compute = (batch / busy) * t_sample
    comm = 2 * workers * 8 * n_params / bandwidth  # network to every worker, one gradient back from every shard
    return {"workers": workers, "busy": busy, "epoch_seconds": steps * (compute + overhead_step + comm +
                                                                        workers * per_task),
            "compute_fraction": compute / (compute + overhead_step + comm + workers * per_task)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="fsdd")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--chip", default=None, help="chip name or file (default: the preset's)")
    parser.add_argument("--batch-size", type=int, default=None, help="minibatch size (default: the preset's)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="measurements per row, the rows interleaved; the table gives the median (default 3)")
    args = parser.parse_args()
    overrides = {k: v for k, v in (("chip", args.chip), ("batch_size", args.batch_size)) if v is not None}
    RUNS.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list] = {row: [] for row in ROWS}
    reference = None
    for _ in range(args.repeats):
        for row in ROWS:
            epoch, startup, network = epoch_seconds(args.task, args.samples, row, overrides)
            reference = reference or network
            assert network == reference, f"{row}: the network differs from the serial run's"
            runs[row].append((epoch, startup))
            print(row, runs[row][-1], flush=True)
    rows = {row: {"epoch": float(np.median([e for e, _ in r])), "startup": float(np.median([s for _, s in r])),
                  "epochs": [e for e, _ in r]} for row, r in runs.items()}
    over = dask_overheads(args.task, overrides)
    config = preset_config(args.task, **overrides)
    t_sample = rows["serial, 1 core"]["epoch"] / (args.samples + 64)  # one core; training + validation samples
    proj = [projection(t_sample, over["per_step"], over["per_task"], over["network_parameters"],
                       config.batch_size, w) for w in (1, 8, 64, 512)]
    doc = {"task": args.task, "samples": args.samples, "rows": rows, "overheads": over, "t_sample": t_sample,
           "projection": proj, "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
           "machine": machine()}
    (RUNS / f"scaling-{args.task}-{args.batch_size or config.batch_size}.json").write_text(json.dumps(doc, indent=1))
    one_core, serial = rows["serial, 1 core"]["epoch"], rows["serial"]["epoch"]
    argv = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in overrides.items())
    lines = [f"`benchmarks/scaling.py --task {args.task} --samples {args.samples} {argv}`; {doc['machine']}; "
             f"batch {config.batch_size}; steady-state seconds per epoch of {args.samples} training + 64 validation "
             f"samples ({LONG}-epoch run minus a 1-epoch run, over {LONG - 1}), start-up excluded; median of "
             f"{args.repeats} measurements per row, the rows interleaved (each measurement in the last column); the "
             "network is bit-identical on every row. Speed-up per core: against one process on one core (the unit "
             "a worker adds); against the default: one process on every core (the batched engine's threads).", "",
             "| run | cores used | s / epoch | speed-up vs 1 core | per-core efficiency | vs the default "
             "| start-up (s) | s / epoch, each measurement |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        used = ROWS[name][1] or os.cpu_count()
        speedup = one_core / r["epoch"]
        lines.append(f"| {name} | {used} | {r['epoch']:.2f} | {speedup:.2f}x | {speedup / used:.0%} | "
                     f"{serial / r['epoch']:.2f}x | {r['startup']:.1f} | "
                     f"{', '.join(f'{e:.2f}' for e in r['epochs'])} |")
    lines += ["", f"Dask overhead (local:2): {1e3 * over['per_task']:.2f} ms per task, {1e3 * over['per_step']:.1f} ms "
              f"per training step (broadcast of the {over['network_parameters']:,}-parameter network + 4 shard tasks).",
              "", f"Projection for a 60,000-sample data set, batch {config.batch_size}, {1e3 * t_sample:.2f} ms per "
              "sample, 1 GB/s network (formula in docs/scaling.md):", "",
              "| workers | busy | epoch (s) | compute share |", "|---|---|---|---|"]
    lines += [f"| {p['workers']} | {p['busy']} | {p['epoch_seconds']:.0f} | {p['compute_fraction']:.0%} |"
              for p in proj]
    key = args.task + ("" if args.batch_size is None else f"-batch{args.batch_size}")
    title = args.task + ("" if args.batch_size is None else f", batch {args.batch_size}")
    update_section(f"scaling-{key}", f"## Scale-out on Dask: {title}\n\n" + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
