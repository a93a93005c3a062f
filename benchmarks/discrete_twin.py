"""Where do chip and float model decide differently? A float, discrete-time twin of the chip separates the
three causes: integer rounding, the step grid itself (crossings seen only at step ends), and the reset
falling at the end of the step instead of at the crossing.

For a network with one hidden layer and a leaky-integrator readout (the digits and FSDD presets) the twin
runs the chip's update in floats (``toolchain.lif.discrete``, also what the ONNX float model computes), per
step ``n``:

    i = a_s (i + W x[n]),  v = a_m v + dt i,  while v >= f theta: v -= f theta, spike

(the readout sees the hidden spikes one step later), with ``a = exp(-dt / tau)``. ``f`` is either the
compiled configuration's threshold factor (rate matching, or ``1 / kappa`` if the compiler kept the gain
correction; then the twin is the chip without integer rounding) or ``1 / kappa``, the exact area ratio of
the chip's discrete kernel to the float kernel. In the "timed reset" variant the reset is subtracted as the
continuous model would see it at the end of the step, ``f theta exp(-(1 - phi) dt / tau_mem)``, ``phi`` the
crossing's fraction of the step (linear interpolation). Decisions are compared on the validation split (no test
samples):

    python -m benchmarks.discrete_twin runs/digits/network.json runs/seed1/digits/network.json ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hw_models.simulator import simulate
from toolchain.compile import compile_network
from toolchain.compile.units import kernel_gain
from toolchain.data.inputs import network_inputs
from toolchain.decode import decide
from toolchain.lif.discrete import discrete_twin
from toolchain.lif.forward import forward
from toolchain.network import Network, load_network
from toolchain.verify import chip_decode


def twin_decisions(net: Network, rasters: np.ndarray, factor: float, timed_reset: bool) -> np.ndarray:
    """Integrated-voltage decisions of the float discrete-time twin (:mod:`toolchain.lif.discrete`)."""
    code = net.metadata.get("output_code")
    code = np.eye(net.layer_sizes[-1]) if code is None else np.asarray(code, float)
    v_out = discrete_twin(net, rasters, threshold_factor=factor, timed_reset=timed_reset)["readout_v"]
    return np.argmax(v_out.sum(axis=1) @ code.T, axis=1)


def percent_equal(a: np.ndarray, b: np.ndarray) -> str:
    return f"{100 * np.mean(a == b):.1f} %"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("networks", nargs="+", type=Path)
    ap.add_argument("--split", default="val", choices=["train", "val"])
    args = ap.parse_args()
    print("| network | samples | chip vs float | twin (chip's factor) vs chip | twin (chip's factor) vs float | "
          "twin (1/kappa) vs float | twin (1/kappa, timed reset) vs float |")
    print("|---|---|---|---|---|---|---|")
    for path in args.networks:
        net = load_network(path)
        meta = net.metadata
        if net.n_layers != 2 or net.readout != "leaky-integrator" or meta.get("decision") != "integrated-voltage":
            print(f"{path}: needs one hidden layer and a leaky readout with integrated-voltage decisions; skipped")
            continue
        samples, _, rasters = network_inputs(net, args.split)
        code = None if meta.get("output_code") is None else np.asarray(meta["output_code"], float)
        ref = np.array([decide(meta["decision"], forward(net, s, meta["t_end"]), net.layer_sizes[-1], code)
                        for s in samples])
        config, report = compile_network(net, meta.get("chip", "xylo-audio2"))
        chip = chip_decode.decide(simulate(config, rasters), meta["decision"], code)
        kappa = float(np.mean(kernel_gain(np.atleast_1d(config.dash_syn[:1]), np.atleast_1d(config.dash_mem[:1]),
                                          net.dt)))
        # the configuration's own threshold factor: rate matching's, times 1 / kappa if it was gain corrected
        factor = float(report.threshold_scales.get("1", 1.0)) / (kappa if report.gain_correction else 1.0)
        twin = twin_decisions(net, rasters, factor, False)
        plain = twin_decisions(net, rasters, 1 / kappa, False)
        timed = twin_decisions(net, rasters, 1 / kappa, True)
        pairs = [(chip, ref), (twin, chip), (twin, ref), (plain, ref), (timed, ref)]
        print(f"| {path} | {len(ref)} | " + " | ".join(percent_equal(a, b) for a, b in pairs) + " |", flush=True)


if __name__ == "__main__":
    main()
