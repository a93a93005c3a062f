"""The ONNX chip model in onnxruntime against Spikeline's numba kernel and SynSense's xylosim.

Network of reference/xylo.md §4 (the one `benchmarks/sim_vs_xylosim.py` uses): 16-500-8, 10 % recurrent
density, T = 10,000, Bernoulli input p = 0.05. One sample (every record key) and a batch of 64 (spike
keys); onnxruntime with 1 and 2 intra-op threads. All three engines run in this process and their
outputs are asserted identical before any time is reported.

    python -m benchmarks.onnx_runtime [--steps 10000] [--batch 64] [--synapses 1 2] [--no-write]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.report import machine, update_section
from benchmarks.sim_vs_xylosim import network
from deploy.backends.xylosim import XylosimBackend
from hw_models.simulator import SPIKE_KEYS, simulate
from toolchain.io import onnx as onnx_io
from toolchain.io.onnx_chip import build_chip_model

THREADS = (1, 2)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def same(ours: dict, theirs, keys) -> None:
    for key in keys:
        assert np.array_equal(ours[key], theirs[key]), f"{key} differs"


def bench(n_syn: int, steps: int, n_batch: int, repeats: int) -> dict:
    cfg = network(0, n_syn)
    rng = np.random.default_rng(1)
    batch = (rng.random((n_batch, steps, 16)) < 0.05).astype(np.int64)
    one = batch[0]
    xs = XylosimBackend()
    xs.apply(cfg)
    one_list = one.astype(np.uint8).tolist()
    sessions = {}
    for mode in ("all", "spikes"):
        model = build_chip_model(cfg, record=mode)
        sessions[mode] = {n: onnx_io.session(model, threads=n) for n in THREADS}
    simulate(cfg, one[:10])  # numba compiles (or loads its disk cache) once per process
    simulate(cfg, batch[:2, :10], record="spikes")
    for n in THREADS:
        onnx_io.run(sessions["all"][n], one[:10])

    def xs_core():
        xs.layer.reset_all()
        xs.layer.evolve(one_list)

    r = {"n_syn": n_syn, "xs": np.inf, "numba": np.inf, **{f"ort{n}": np.inf for n in THREADS}}
    for _ in range(repeats):  # interleaved: a load spike from elsewhere hits every engine alike
        r["xs"] = min(r["xs"], timed(xs_core)[0])
        dt, rec_numba = timed(lambda: simulate(cfg, one))
        r["numba"] = min(r["numba"], dt)
        for n in THREADS:
            dt, rec_ort = timed(lambda n=n: onnx_io.run(sessions["all"][n], one))
            r[f"ort{n}"] = min(r[f"ort{n}"], dt)
            same(rec_ort, rec_numba, rec_ort.keys())
    rec_xs = xs.evolve(one)
    same(rec_numba.data, rec_xs, rec_numba.keys())
    r["activity"] = float(rec_numba["Spikes"].astype(bool).mean())

    # batch: spikes only; xylosim one sample after another (its C++ evolve timed alone)
    r["b_numba"], rec_b = timed(lambda: simulate(cfg, batch, record="spikes"))
    for n in THREADS:
        r[f"b_ort{n}"], out = timed(lambda n=n: onnx_io.run(sessions["spikes"][n], batch))
        same(out, rec_b, SPIKE_KEYS)
        del out
    r["b_xs"] = 0.0
    for b in range(n_batch):
        sample = batch[b].astype(np.uint8).tolist()
        t0 = time.perf_counter()
        xs.layer.reset_all()
        xs.layer.evolve(sample)
        r["b_xs"] += time.perf_counter() - t0
        theirs = {"Spikes": np.array(xs.layer.rec_recurrent_spikes, np.uint8),
                  "Spikes_out": np.array(xs.layer.rec_out_spikes, np.uint8)}
        same({k: rec_b[k][b] for k in SPIKE_KEYS}, theirs, SPIKE_KEYS)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--synapses", type=int, nargs="+", default=[1])
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = ap.parse_args()
    import onnxruntime

    rows = []
    for n_syn in args.synapses:
        r = bench(n_syn, args.steps, args.batch, args.repeats)
        rows.append(r)
        best = min(THREADS, key=lambda n: r[f"ort{n}"])
        best_b = min(THREADS, key=lambda n: r[f"b_ort{n}"])
        print(f"[{n_syn} synapse(s)] activity {r['activity']:.1%}; one sample: xylosim {r['xs']:.3f} s, numba "
              f"{r['numba']:.3f} s, onnxruntime " + ", ".join(f"{n} thread(s) {r[f'ort{n}']:.3f} s" for n in THREADS)
              + f" -> ONNX {r['xs'] / r[f'ort{best}']:.2f}x xylosim")
        print(f"  batch {args.batch}: xylosim {r['b_xs'] / args.batch:.3f} s/sample, numba "
              f"{r['b_numba'] / args.batch:.4f}, onnxruntime " +
              ", ".join(f"{n} thread(s) {r[f'b_ort{n}'] / args.batch:.4f}" for n in THREADS) +
              f" s/sample -> ONNX {r['b_xs'] / r[f'b_ort{best_b}']:.1f}x xylosim's per-sample throughput")

    per = args.batch
    lines = [
        "## ONNX chip model in onnxruntime (`benchmarks/onnx_runtime.py`)",
        "",
        f"Machine: {machine()}; shared with other jobs while measured (load average above the core count), "
        f"so absolute times are inflated and only the same-run ratios are meaningful. onnxruntime "
        f"{onnxruntime.__version__}, CPU provider. Network of reference/xylo.md §4 (16-500-8, 10 % recurrent "
        f"density, T = {args.steps:,}, input p = 0.05). Outputs asserted identical across the three engines "
        f"before timing is reported: every record key for one sample, both spike keys for every sample of "
        f"the batch. One sample: best of {args.repeats} interleaved repeats; batch: one run each.",
        "",
        "| synapses | hidden activity | xylosim `evolve` (1 sample) | numba kernel | onnxruntime 1 thread | "
        "onnxruntime 2 threads | ONNX vs xylosim (target >= 1x) | xylosim per sample (batch) | numba per "
        f"sample, batch of {per} | onnxruntime per sample, 1 / 2 threads | ONNX throughput vs xylosim "
        "(target >= 5x) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        best = min(r[f"ort{n}"] for n in THREADS)
        best_b = min(r[f"b_ort{n}"] for n in THREADS)
        lines.append(
            f"| {r['n_syn']} | {r['activity']:.1%} | {r['xs']:.3f} s | {r['numba']:.3f} s | {r['ort1']:.3f} s | "
            f"{r['ort2']:.3f} s | **{r['xs'] / best:.2f}x** | {r['b_xs'] / per:.3f} s | {r['b_numba'] / per:.4f} s | "
            f"{r['b_ort1'] / per:.4f} / {r['b_ort2'] / per:.4f} s | **{r['b_xs'] / best_b:.1f}x** |")
    lines += ["", "Single samples record every key (the ONNX model's full output set); the batch records spikes "
              "only (`--record spikes`). xylosim's time is its C++ `evolve()` on a prebuilt layer; it has no batch "
              "mode, so its batch throughput is one sample after another. The ONNX times include onnxruntime's "
              "input/output copies; session creation is not timed. The numba kernel is Spikeline's own "
              "simulator (`simulate()`, compiled once per process beforehand)."]
    if not args.no_write:
        print("wrote", update_section("onnx-runtime", "\n".join(lines)))


if __name__ == "__main__":
    main()
