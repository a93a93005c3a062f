"""The same trained network deployed through rockpool's own pipeline and through Spikeline's compiler.

(a) A trained Spikeline network (``spikeline train --task yinyang``; default runs/yinyang/network.json) is
rebuilt as a rockpool ``Sequential`` of ``LinearTorch``/``LIFTorch`` (the unit mapping of docs/interop.md
forwards: ``w = W dt``, same taus and thresholds; a leaky-integrator readout becomes a LIF whose
threshold the quantizer maps to 32767, so it never fires), then goes through rockpool's ``mapper``, its
``global_quantize`` or ``channel_quantize``, and ``XyloSim.from_specification``; decisions use the
network's own rule on rockpool's recorded readout (``Vmem_out`` for voltage rules). The same network goes
through ``compile_network`` (Spikeline's compiler with its calibration) and the bit-accurate simulator.
Test accuracy side by side, on the same rasters.

    python -m benchmarks.vs_rockpool [--network runs/yinyang/network.json] [--limit N] [--no-write]

rockpool is AGPL-3.0 and optional; this script imports it (with the samna stand-ins of
tests/toolchain/interop/rockpool_shim.py when samna is absent).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.report import machine, update_section
from hw_models.simulator import Record
from toolchain.compile import compile_network
from toolchain.network import Network, load_network
from toolchain.verify import verify
from toolchain.verify.chip_decode import decide
from toolchain.verify.inputs import network_inputs
from toolchain.verify.runner import RULE_ALIASES


def rockpool_model(net: Network):
    """``net`` as a rockpool Sequential (weights in rockpool's per-step units ``w = W dt``)."""
    import torch
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFTorch, LinearTorch

    dt = net.dt
    mods = []
    for k in range(net.n_layers):
        w = torch.tensor(net.weights[k] * dt, dtype=torch.float32)
        mods.append(LinearTorch(tuple(w.shape), weight=w, has_bias=False))
        theta = net.threshold[k]
        if theta is None:  # leaky readout: a threshold the quantizer puts at 32767 (never reached in practice)
            theta = np.full(net.layer_sizes[k + 1], 32767.0 / (127.0 / np.max(np.abs(net.weights[k] * dt))))
        rec = net.recurrent[k] if k < net.n_layers - 1 else None
        extra = {} if rec is None else {"has_rec": True, "w_rec": torch.tensor(rec * dt, dtype=torch.float32)}
        mods.append(LIFTorch(net.layer_sizes[k + 1], tau_syn=torch.tensor(net.tau_syn[k], dtype=torch.float32),
                             tau_mem=torch.tensor(net.tau_mem[k], dtype=torch.float32),
                             threshold=torch.tensor(theta, dtype=torch.float32), dt=dt, **extra))
    return Sequential(*mods)


def rockpool_accuracy(net: Network, rasters: np.ndarray, labels: np.ndarray, quantizer: str) -> float:
    from rockpool.transform import quantize_methods as q

    from tests.toolchain.interop.rockpool_shim import import_xylo

    xylo = import_xylo()
    spec = xylo.syns61201.mapper(rockpool_model(net).as_graph(), weight_dtype="float")
    spec.update(getattr(q, quantizer)(**spec))
    spec.pop("mapped_graph", None)
    sim = xylo.syns61201.XyloSim.from_specification(**spec)
    keys = {"Vmem_out": "Vmem_out", "Isyn_out": "Isyn_out"}
    recs = {"Spikes_out": [], "Vmem_out": [], "Isyn_out": []}
    for raster in rasters:
        sim.reset_state()
        out, _, rec = sim(np.minimum(raster, 15).astype(np.int64), record=True)
        recs["Spikes_out"].append(np.asarray(out).reshape(raster.shape[0], -1))
        for k, ours in keys.items():
            recs[ours].append(np.asarray(rec[k]).reshape(raster.shape[0], -1))
    record = Record({k: np.stack(v) for k, v in recs.items()})
    rule = RULE_ALIASES[str(net.metadata["decision"]).lower()]
    code = net.metadata.get("output_code")
    pred = decide(record, rule, None if code is None else np.asarray(code, np.float64))
    return float(np.mean(pred == labels))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--network", type=Path, default=Path("runs/yinyang/network.json"))
    ap.add_argument("--limit", type=int, default=None, help="first N test samples (default: all)")
    ap.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = ap.parse_args()
    net = load_network(args.network)
    chip = net.metadata.get("chip", "xylo-audio2")
    _, labels, rasters = network_inputs(net, "test", args.limit)
    rows = []
    t0 = time.perf_counter()
    config, report = compile_network(net, chip)
    res = verify(net, config, limit=args.limit, compile_options=report.to_dict())
    spikeline = {k: float(res.accuracy(k)) for k in res.models}
    rows.append(("Spikeline compiler (calibrated) -> bit-accurate sim", spikeline["bit-accurate"],
                 time.perf_counter() - t0))
    for quantizer in ("global_quantize", "channel_quantize"):
        t0 = time.perf_counter()
        rows.append((f"rockpool mapper + {quantizer} -> XyloSim", rockpool_accuracy(net, rasters, labels, quantizer),
                     time.perf_counter() - t0))
    lines = [f"Network `{args.network}` (float test accuracy {spikeline['float']:.1%}), {len(labels)} test samples, "
             f"chip {chip}; {machine()} (shared with other jobs while measured).", "",
             "| deployment | test accuracy |", "|---|---|"]
    lines += [f"| {name} | {a:.1%} |" for name, a, _ in rows]
    lines += ["", "Both columns run the same rasters through a bit-accurate Xylo Audio 2 model (rockpool's XyloSim is "
              "xylosim; Spikeline's simulator is bit-identical to it, tests/toolchain/interop/test_rockpool_spec.py). "
              "Conversions: rockpool weights `w = W dt` (its per-step units), taus and thresholds unchanged; the "
              "leaky readout gets a threshold the quantizer maps to 32767; rockpool's mapper rounds `log2(tau/dt)` "
              "to dashes and its quantizers use no weight shifts. Caveats: rockpool's quantizer defects "
              "(shared/reference/xylo.md section 5) were not worked around (against rockpool); its mapper "
              "has no calibration step, Spikeline's compiler calibrates on training samples (its design); "
              "input counts are capped at 15 for rockpool's XyloSim as Spikeline's simulator caps them. No "
              "times are compared: the Spikeline row includes compilation with calibration and three models."]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        update_section("vs-rockpool", "## Deployment: rockpool's pipeline vs Spikeline's compiler\n\n" + text)


if __name__ == "__main__":
    main()
