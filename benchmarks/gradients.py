"""Per-sample forward + gradient time of the exact engines against surrogate-gradient BPTT in PyTorch.

Two networks, both timed in the same run on the same machine:

(a) 5-120-3 on Yin-Yang (EventProp setting: tau_mem 20 ms, tau_syn 5 ms, inputs at 10 ms + 30 ms * x,
    bias spike at 20 ms, 100 ms trial), first-spike cross-entropy;
(b) 16-256-10 multi-spike network, Poisson inputs at 20 Hz per channel over 1 s, one hop delay of 1 ms
    into the readout, time-weighted spike-count cross-entropy.

Engines: FP reverse mode (``engine="fp"``), EventProp, FP forward mode (few samples: it is O(P) slower
by design), and BPTT with a fast-sigmoid surrogate at dt = 1 ms in PyTorch on the same weights
(Euler-exponential discretisation, subtractive reset, spike-count cross-entropy; one torch thread, as
our engines use one core). Batches of 32; best of ``--repeats``; per-sample time = batch time / 32;
process CPU time (primary: the machine is shared) and wall-clock time are both reported.

``--tuned`` (the comparison of issue 13, its own section of docs/benchmarks.md): FP reverse mode per sample
(one core) and batched (:mod:`toolchain.grad.batched`, 2 threads) against the tuned BPTT baseline, the fastest
of eager PyTorch (both surrogates) and a per-step cell under ``torch.compile``, with 1 and 2 torch threads and
batches of 32, 128 and 256, all in one run.

Run:  .venv/bin/python benchmarks/gradients.py            (needs: pip install torch==2.13.0)
      .venv/bin/python benchmarks/gradients.py --tuned
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import machine, update_section  # noqa: E402
from toolchain.data.yinyang import generate  # noqa: E402
from toolchain.grad import batched  # noqa: E402
from toolchain.grad.api import loss_and_grad  # noqa: E402
from toolchain.losses import FirstSpikeCE, SpikeCountCE  # noqa: E402
from toolchain.network import Network  # noqa: E402

BATCH = 32


def case_yinyang(seed: int = 0):
    """(a): 5-120-3 first-spike network on Yin-Yang inputs (EventProp's encoding)."""
    features, labels = generate(BATCH, seed)
    inputs = []
    for x in features:
        times = np.concatenate([10e-3 + 30e-3 * x, [20e-3]])
        inputs.append((times, np.arange(5)))
    rng = np.random.default_rng(seed)
    tau_mem = 20e-3
    # W&P initialisation N(1.5, 0.78) / N(0.93, 0.1) in their units (w = tau_mem * W)
    w0 = rng.normal(1.5, 0.78, (5, 120)) / tau_mem
    w1 = rng.normal(0.93, 0.1, (120, 3)) / tau_mem
    net = Network.create([w0, w1], tau_syn=5e-3, tau_mem=tau_mem, threshold=1.0)
    loss = FirstSpikeCE(tau0=0.5e-3, tau1=6.4e-3, alpha=3e-3)
    return "(a) 5-120-3 Yin-Yang, first spike", net, inputs, list(labels), loss, 0.1


#: (b) at three activity levels: mean input->hidden and hidden->readout weights (in units of 1 / tau_syn)
ACTIVITY = {"high": (0.15, 0.01), "medium": (0.10, 0.02), "low": (0.05, 0.04)}


def case_multispike(activity: str, seed: int = 0):
    """(b): 16-256-10 multi-spike network over 1 s of 20 Hz Poisson input; the hidden firing rate is set
    by the weight scale (``ACTIVITY``), since event-driven cost grows with the number of spikes."""
    rng = np.random.default_rng(seed)
    net = Network.random([16, 256, 10], seed=seed, tau_syn=5e-3, tau_mem=20e-3, weight_mean=ACTIVITY[activity],
                         weight_std=[0.3, 0.05], delays=[0.0, 1e-3])
    inputs = []
    for _ in range(BATCH):
        n = rng.poisson(16 * 20.0)
        inputs.append((rng.uniform(0.0, 1.0, n), rng.integers(0, 16, n)))
    labels = [int(y) for y in rng.integers(0, 10, BATCH)]
    loss = SpikeCountCE(tau_count=0.5, gain=0.1)
    return f"(b) 16-256-10 multi-spike, 1 s, {activity} activity", net, inputs, labels, loss, 1.0


class Best:
    """Best-of-N timer of both wall-clock and process CPU time (per sample)."""

    def __init__(self) -> None:
        self.wall = math.inf
        self.cpu = math.inf

    def run(self, func, per: int):
        w0, c0 = time.perf_counter(), time.process_time()
        out = func()
        self.wall = min(self.wall, (time.perf_counter() - w0) / per)
        self.cpu = min(self.cpu, (time.process_time() - c0) / per)
        return out


def time_engine(net, inputs, labels, loss, t_end, engine, repeats) -> tuple[Best, object]:
    loss_and_grad(net, inputs[:1], labels[:1], loss, t_end, engine=engine)  # compile / warm up
    best = Best()
    stats = None
    for _ in range(repeats):
        _, _, stats = best.run(lambda: loss_and_grad(net, inputs, labels, loss, t_end, engine=engine), len(inputs))
    return best, stats


def surrogate_spike(kind: str):
    """Heaviside forward, fast-sigmoid derivative 1 / (1 + 10 |v|)^2 backward: ``"function"`` through a
    torch.autograd.Function, ``"detach"`` through ``H(v) + f(v) - f(v).detach()``, ``f(v) = v / (1 + 10 |v|)``."""
    import torch

    class FastSigmoid(torch.autograd.Function):
        @staticmethod
        def forward(ctx, v):
            ctx.save_for_backward(v)
            return (v > 0).to(v.dtype)

        @staticmethod
        def backward(ctx, grad):
            (v,) = ctx.saved_tensors
            return grad / (1.0 + 10.0 * v.abs()) ** 2

    def spike_detach(v):
        soft = v / (1.0 + 10.0 * v.abs())
        return (v > 0).to(v.dtype) + (soft - soft.detach())

    return FastSigmoid.apply if kind == "function" else spike_detach


def time_bptt(net: Network, inputs, labels, t_end: float, repeats: int, dt: float = 1e-3,
              surrogate: str = "function"):
    """Surrogate-gradient BPTT on the same network: per-sample time of forward + backward.

    ``surrogate="function"``: a torch.autograd.Function (Heaviside forward, fast-sigmoid derivative
    1 / (1 + 10 |v|)^2 backward); ``"detach"``: the same gradient through ``H(v) + f(v) - f(v).detach()``
    with ``f(v) = v / (1 + 10 |v|)``, which avoids Python in the backward pass.
    """
    import torch

    torch.set_num_threads(1)
    steps = int(round(t_end / dt))
    raster = np.zeros((len(inputs), steps, net.layer_sizes[0]), dtype=np.float32)
    for b, (times, channels) in enumerate(inputs):
        np.add.at(raster[b], (np.minimum((np.asarray(times) / dt).astype(int), steps - 1), channels), 1.0)
    x = torch.from_numpy(raster)
    y = torch.tensor(labels)
    params = [torch.tensor(w, dtype=torch.float32, requires_grad=True) for w in net.weights]
    decay_syn = [float(np.exp(-dt / ts[0])) for ts in net.tau_syn]
    decay_mem = [float(np.exp(-dt / tm[0])) for tm in net.tau_mem]
    thresholds = [float(th[0]) for th in net.threshold]

    spike = surrogate_spike(surrogate)

    def run():
        batch = x.shape[0]
        cur = [torch.zeros(batch, n) for n in net.layer_sizes[1:]]
        vol = [torch.zeros(batch, n) for n in net.layer_sizes[1:]]
        prev = [torch.zeros(batch, n) for n in net.layer_sizes[1:]]
        count = torch.zeros(batch, net.layer_sizes[-1])
        for t in range(steps):
            src = x[:, t]
            new = []
            for layer, w in enumerate(params):
                drive = src if layer == 0 else prev[layer - 1]  # one step per hidden hop, as on the chip
                cur[layer] = decay_syn[layer] * cur[layer] + drive @ w
                vol[layer] = decay_mem[layer] * vol[layer] + dt * cur[layer]
                s = spike(vol[layer] - thresholds[layer])
                vol[layer] = vol[layer] - thresholds[layer] * s
                new.append(s)
            prev = new
            count = count + new[-1]
        return torch.nn.functional.cross_entropy(0.1 * count, y)

    run().backward()  # warm up
    best = Best()
    for _ in range(repeats):
        for p in params:
            p.grad = None
        best.run(lambda: run().backward(), len(inputs))
    return best


def bptt_cell(net: Network, dt: float, surrogate: str):
    """One time step of the BPTT network (the model of :func:`time_bptt`): ``step(x_t, prev, cur, vol, *W)`` ->
    (spikes per layer, cur, vol); a pure function, so ``torch.compile`` can compile it once per shape."""
    decay_syn = [float(np.exp(-dt / ts[0])) for ts in net.tau_syn]
    decay_mem = [float(np.exp(-dt / tm[0])) for tm in net.tau_mem]
    thresholds = [float(th[0]) for th in net.threshold]

    spike = surrogate_spike(surrogate)

    def step(src, prev, cur, vol, *weights):
        new, cur_out, vol_out = [], [], []
        for layer, w in enumerate(weights):
            drive = src if layer == 0 else prev[layer - 1]
            c = decay_syn[layer] * cur[layer] + drive @ w
            v = decay_mem[layer] * vol[layer] + dt * c
            s = spike(v - thresholds[layer])
            new.append(s)
            cur_out.append(c)
            vol_out.append(v - thresholds[layer] * s)
        return new, cur_out, vol_out

    return step


def time_bptt_tuned(net: Network, inputs, labels, t_end: float, repeats: int, batch: int, threads: int, mode: str,
                    dt: float = 1e-3) -> Best:
    """BPTT per-sample time for one setting: ``mode`` "eager-function", "eager-detach" or "compiled" (the step
    under ``torch.compile``, detach surrogate); ``batch`` samples (the inputs repeated), ``threads`` torch
    threads. Compilation and the first run are excluded."""
    import torch

    torch.set_num_threads(threads)
    reps = -(-batch // len(inputs))
    inputs, labels = (inputs * reps)[:batch], (labels * reps)[:batch]
    steps = int(round(t_end / dt))
    raster = np.zeros((batch, steps, net.layer_sizes[0]), dtype=np.float32)
    for b, (times, channels) in enumerate(inputs):
        np.add.at(raster[b], (np.minimum((np.asarray(times) / dt).astype(int), steps - 1), channels), 1.0)
    x = torch.from_numpy(raster).transpose(0, 1).contiguous()  # (steps, batch, inputs)
    y = torch.tensor(labels)
    params = [torch.tensor(w, dtype=torch.float32, requires_grad=True) for w in net.weights]
    step = bptt_cell(net, dt, "function" if mode == "eager-function" else "detach")
    if mode == "compiled":
        # a fresh dynamo cache per setting: every setting compiles the same cell code, and past dynamo's
        # recompile limit (8) torch.compile silently runs it eagerly (the full grid's later settings did)
        torch._dynamo.reset()
        step = torch.compile(step, dynamic=False)

    def run():
        zeros = [torch.zeros(batch, n) for n in net.layer_sizes[1:]]
        prev, cur, vol = zeros, zeros, zeros
        count = torch.zeros(batch, net.layer_sizes[-1])
        for t in range(steps):
            prev, cur, vol = step(x[t], prev, cur, vol, *params)
            count = count + prev[-1]
        return torch.nn.functional.cross_entropy(0.1 * count, y)

    run().backward()  # compile / warm up
    best = Best()
    for _ in range(repeats):
        for p in params:
            p.grad = None
        best.run(lambda: run().backward(), batch)
    return best


#: the tuned BPTT grid: modes x torch threads x batch sizes; ``--quick`` drops the settings that never won here
GRID = {"full": (("eager-function", "eager-detach", "compiled"), (1, 2), (32, 128, 256)),
        "quick": (("eager-function", "compiled"), (1, 2), (256,)),
        "one-thread": (("eager-function", "compiled"), (1,), (256,))}


def tuned(repeats: int, write: bool, cases: list[str], grid: str) -> None:
    """FP reverse per sample and batched on 2 threads against the best tuned BPTT, every case in one run."""
    rows = []
    makers = {"a": case_yinyang, **{level: lambda level=level: case_multispike(level) for level in ACTIVITY}}
    modes, thread_counts, batches = GRID[grid]
    for make in [makers[c] for c in cases]:
        name, net, inputs, labels, loss, t_end = make()
        fp_t, stats = time_engine(net, inputs, labels, loss, t_end, "fp", repeats)
        rule = "first-spike" if isinstance(loss, FirstSpikeCE) else "spike-count"
        batched.run_batch(net, inputs[:2], labels[:2], loss, t_end, rule, workers=2)  # compile / load the cache
        fast = Best()
        for _ in range(repeats):
            fast.run(lambda: batched.run_batch(net, inputs, labels, loss, t_end, rule, workers=2), len(inputs))
        bptt: dict[tuple[str, int, int], Best] = {}
        for mode in modes:
            for threads in thread_counts:
                for batch in batches:
                    bptt[mode, threads, batch] = time_bptt_tuned(net, inputs, labels, t_end, repeats, batch, threads,
                                                                 mode)
                    b = bptt[mode, threads, batch]
                    print(f"  {name} bptt {mode} threads {threads} batch {batch}: {b.wall * 1e3:.3f} ms wall, "
                          f"{b.cpu * 1e3:.3f} ms cpu per sample", flush=True)
        best_wall = min(bptt.items(), key=lambda kv: kv[1].wall)
        best_cpu = min(bptt.items(), key=lambda kv: kv[1].cpu)
        spikes = [float(c.sum(1).mean()) for c in stats.spike_counts]
        rows.append((name, spikes, fp_t, fast, best_wall, best_cpu))
        print(f"{name}: fp per sample {fp_t.wall * 1e3:.3f} ms wall / {fp_t.cpu * 1e3:.3f} cpu, batched 2 threads "
              f"{fast.wall * 1e3:.3f} wall / {fast.cpu * 1e3:.3f} cpu; best bptt wall {best_wall[0]} "
              f"{best_wall[1].wall * 1e3:.3f} ms, best bptt cpu {best_cpu[0]} {best_cpu[1].cpu * 1e3:.3f} ms",
              flush=True)
        table = tuned_table(rows, repeats, modes, thread_counts, batches)
        if write:  # after every case: a run cut short keeps what it measured
            update_section("gradients-tuned", table)
    print(table)


def tuned_table(rows: list, repeats: int, modes, thread_counts, batches) -> str:
    """The markdown section of :func:`tuned` for the cases measured so far."""
    load = os.getloadavg()[0]
    lines = [
        "## Gradients against tuned BPTT (`benchmarks/gradients.py --tuned`)", "",
        f"Machine: {machine()}; load average {load:.1f} at the end of the run"
        + (" (the run's own threads only: a quiet machine). " if load < 2.5 else
           ": **shared with other jobs**, so every wall-clock figure is inflated by waiting for a core, and process "
           "CPU time (all threads together: the work done) is the fairer figure. ")
        + "Everything below was measured in one run. "
        "Per-sample time of forward pass + loss + full gradient, best of "
        f"{repeats}. FP: exact, event-driven; per sample = `loss_and_grad(engine=\"fp\")` on one core, batched = "
        "`toolchain.grad.batched` on 2 threads (batch of 32). BPTT: surrogate gradients at dt = 1 ms in PyTorch "
        f"2.13 on the same weights, the fastest of {len(modes) * len(thread_counts) * len(batches)} settings: "
        f"{', '.join(modes)} (eager-function: an autograd.Function surrogate, eager-detach: the detach surrogate, "
        f"compiled: the per-step cell under `torch.compile`); {' and '.join(map(str, thread_counts))} torch "
        f"threads; batches of {', '.join(map(str, batches))} (compilation and the first run excluded).", "",
        "| network | spikes / sample | FP per sample | FP batched, 2 threads | best BPTT (wall) | best BPTT (CPU) "
        "| best BPTT / FP batched, wall | best BPTT / FP batched, CPU |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def ms(b: Best) -> str:
        return f"{b.wall * 1e3:,.3f} ms wall, {b.cpu * 1e3:,.3f} ms CPU"

    for name, spikes, fp_t, fast, (wk, wb), (ck, cb) in rows:
        lines.append(f"| {name} | {' / '.join(f'{s:,.0f}' for s in spikes)} | {ms(fp_t)} | {ms(fast)} | "
                     f"{wb.wall * 1e3:,.3f} ms ({wk[0]}, {wk[1]} thr, batch {wk[2]}) | {cb.cpu * 1e3:,.3f} ms "
                     f"({ck[0]}, {ck[1]} thr, batch {ck[2]}) | **{wb.wall / fast.wall:.1f}x** | "
                     f"**{cb.cpu / fast.cpu:.1f}x** |")
    lines += ["", "Target (issue 13): FP at least 5x faster than the best BPTT at all three activity levels of (b) "
              "and on (a)."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many batches")
    parser.add_argument("--forward-mode-samples", type=int, default=2,
                        help="samples timed for FP forward mode (slow by design)")
    parser.add_argument("--no-write", action="store_true", help="print only, leave docs/benchmarks.md alone")
    parser.add_argument("--tuned", action="store_true",
                        help="FP per sample and batched against the tuned BPTT baseline (its own section)")
    parser.add_argument("--cases", default="a,high,medium,low", help="--tuned: which of a, high, medium, low")
    parser.add_argument("--grid", choices=sorted(GRID), default="full", help="--tuned: the BPTT settings to try")
    args = parser.parse_args()
    if args.tuned:
        tuned(args.repeats, not args.no_write, args.cases.split(","), args.grid)
        return
    rows = []
    cases = [case_yinyang] + [lambda level=level: case_multispike(level) for level in ACTIVITY]
    for make in cases:
        name, net, inputs, labels, loss, t_end = make()
        fp_t, stats = time_engine(net, inputs, labels, loss, t_end, "fp", args.repeats)
        ep_t, _ = time_engine(net, inputs, labels, loss, t_end, "eventprop", args.repeats)
        k = args.forward_mode_samples if t_end < 1.0 else 1  # forward mode on (b): ~10 s and ~0.3 GB each
        fwd_t, _ = time_engine(net, inputs[:k], labels[:k], loss, t_end, "fp-forward", 1)
        bptt_t = min((time_bptt(net, inputs, labels, t_end, args.repeats, surrogate=kind)
                      for kind in ("function", "detach")), key=lambda b: b.cpu)  # the faster implementation
        bptt_big = time_bptt(net, inputs * 4, labels * 4, t_end, args.repeats)  # batch 128, for reference
        spikes = [float(c.sum(1).mean()) for c in stats.spike_counts]
        rate = spikes[0] / net.layer_sizes[1] / t_end  # mean hidden firing rate, Hz
        rows.append((name, spikes, rate, fp_t, ep_t, fwd_t, bptt_t, bptt_big))
        print(f"{name}: spikes/sample {spikes}, hidden rate {rate:.1f} Hz; CPU ms (wall ms): "
              f"fp-reverse {fp_t.cpu * 1e3:.2f} ({fp_t.wall * 1e3:.2f}), eventprop {ep_t.cpu * 1e3:.2f} "
              f"({ep_t.wall * 1e3:.2f}), fp-forward {fwd_t.cpu * 1e3:.0f} ({fwd_t.wall * 1e3:.0f}), bptt "
              f"{bptt_t.cpu * 1e3:.2f} ({bptt_t.wall * 1e3:.2f}), bptt batch 128 {bptt_big.cpu * 1e3:.2f} "
              f"({bptt_big.wall * 1e3:.2f}); ratio bptt/fp {bptt_t.cpu / fp_t.cpu:.1f}x CPU, "
              f"{bptt_t.wall / fp_t.wall:.1f}x wall", flush=True)
    lines = [
        "## Gradients (`benchmarks/gradients.py`)", "",
        f"Machine: {machine()}, load average {os.getloadavg()[0]:.1f} at the end of the run (shared with other "
        "jobs, so CPU time of the process is the primary figure; wall-clock in parentheses). Per-sample time of "
        f"forward pass + loss + full gradient, batch of {BATCH}, best of {args.repeats} (FP forward mode: "
        f"{args.forward_mode_samples} samples for (a), 1 for (b), one run). Ours: event-driven, exact, one core "
        "(numba, compile time excluded). Anchor: surrogate-gradient BPTT in PyTorch "
        "(torch.set_num_threads(1)) at dt = 1 ms on the same weights, spike-count cross-entropy, the faster of "
        "two surrogate implementations (autograd.Function, detach trick).", "",
        "| network | spikes / sample (hidden / readout) | hidden rate | FP reverse | EventProp | FP forward | "
        "BPTT dt = 1 ms | BPTT / FP reverse | BPTT, batch of 128 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def ms(b: Best) -> str:
        return f"{b.cpu * 1e3:,.2f} ms ({b.wall * 1e3:,.2f})"

    for name, spikes, rate, fp_t, ep_t, fwd_t, bptt_t, bptt_big in rows:
        lines.append(f"| {name} | {' / '.join(f'{s:,.0f}' for s in spikes)} | {rate:.1f} Hz | {ms(fp_t)} | "
                     f"{ms(ep_t)} | {fwd_t.cpu * 1e3:,.0f} ms | {ms(bptt_t)} | "
                     f"**{bptt_t.cpu / fp_t.cpu:.1f}x** ({bptt_t.wall / fp_t.wall:.1f}x) | {ms(bptt_big)}, "
                     f"{bptt_big.cpu / fp_t.cpu:.1f}x |")
    lines += ["", "Target: FP reverse mode at least 5x faster per sample than BPTT on (b). The exact engines' cost "
              "grows with the number of spikes (and input events) while BPTT's grows with the number of time "
              "steps, so (b) is measured at three activity levels of the same network (input 20 Hz per "
              "channel; the weight scale sets the hidden rate)."]
    if not args.no_write:
        update_section("gradients", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
