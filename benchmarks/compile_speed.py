"""Calibrated compile time, before and after the fast calibration, on trained networks (same run, same machine).

For each ``network.json``: a fresh process per code version compiles it twice (cold: includes numba's JIT
compilation of the simulator kernel and of the float forward pass; warm: the same call again) and records the
wall and CPU seconds of each, the candidate kept and its decision agreement with the float model on the 1000
training samples; then ``spikeline verify`` (of that version) gives the test split's chip-grid and bit-accurate
accuracies. ``--before`` is a checkout of the old code (e.g. ``git worktree add /tmp/before dd646f4``); its
calibrated compile is ``toolchain.verify.models.compile_for``.

    python -m benchmarks.compile_speed runs/demo/network.json runs/yinyang/network.json --before /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.report import machine, update_section

ROOT = Path(__file__).resolve().parent.parent

#: Runs in a fresh interpreter with PYTHONPATH at one code version: compile twice, print JSON.
PROBE = r"""
import json, re, sys, time
from toolchain.network import load_network
net = load_network(sys.argv[1])
try:
    from toolchain.compile.calibrate import Runs  # the new code: one compile path
    from toolchain.compile import compile_network as run
except ImportError:
    from toolchain.verify.models import compile_for as run
times = []
for _ in range(2):
    wall, cpu = time.perf_counter(), time.process_time()
    config, report = run(net, "xylo-audio2")
    times.append((time.perf_counter() - wall, time.process_time() - cpu))
config.save(sys.argv[2])
report.save(sys.argv[2][:-5] + ".report")
kept = next((c for c in getattr(report, "candidates", []) if c.get("kept")), None)
if kept is not None:
    name, agree = kept["name"], kept["agreement"]
else:
    line = next(w for w in report.warnings if w.startswith("kept the candidate"))
    name, agree = re.search(r"'(.*?)'", line).group(1), float(re.search(r"on ([0-9.]+) %", line).group(1)) / 100
import toolchain
print(json.dumps({"cold": times[0], "warm": times[1], "candidate": name, "agreement": agree,
                  "code": toolchain.__file__}))
"""


def measure(network: str, code: Path, out: Path) -> dict:
    """Compile and verify ``network`` with the code of checkout ``code``. The processes run *in* that checkout:
    ``python -c`` and ``-m`` put the working folder first on ``sys.path``, ahead of ``PYTHONPATH``."""
    env = dict(os.environ, PYTHONPATH=str(code))
    network, out = str(Path(network).resolve()), out.resolve()
    probe = subprocess.run([sys.executable, "-c", PROBE, network, str(out)], env=env, capture_output=True,
                           text=True, check=True, cwd=code)
    doc = json.loads(probe.stdout.strip().splitlines()[-1])
    assert Path(doc.pop("code")).resolve().is_relative_to(code.resolve()), "measured the wrong checkout"
    verify = subprocess.run([sys.executable, "-m", "toolchain.cli", "verify", network, str(out), "--json", "-o",
                             str(out.with_suffix(""))], env=env, capture_output=True, text=True, check=True,
                            cwd=code)
    acc = json.loads(verify.stdout)["accuracy"]
    return {**doc, "chip_grid": acc["chip-grid"], "bit_accurate": acc["bit-accurate"], "float": acc["float"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("networks", nargs="+")
    parser.add_argument("--before", required=True, help="checkout of the old code")
    parser.add_argument("--load", default="", help="what else ran on the machine (goes into the doc)")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, network in enumerate(args.networks):
            before = measure(network, Path(args.before), Path(tmp) / f"before{k}.json")
            after = measure(network, ROOT, Path(tmp) / f"after{k}.json")
            rows.append((network, before, after))
            print(json.dumps({"network": network, "before": before, "after": after}), flush=True)
    lines = ["## Calibrated compile: before and after the fast calibration", "",
             f"Measured by `benchmarks/compile_speed.py` on {machine()}. {args.load}", "",
             "Before: `toolchain.verify.models.compile_for` at commit dd646f4; after: `compile_network` (the one "
             "compile path). Each version in a fresh process: *cold* is the first call (before: numba's JIT "
             "compilation of the simulator kernel and the float forward pass included; after: the kernels load from "
             "numba's disk cache, hw_models/jitcache.py, written by an earlier process: the very first command of a "
             "fresh install compiles them as before), *warm* is the same call again. Seconds are wall "
             "(CPU of the process in brackets). Agreement: the kept candidate's decisions equal to the float "
             "model's on 1000 training samples; gap: bit-accurate minus chip-grid accuracy on the test split.", "",
             "| network | cold before | cold after | warm before | warm after | warm ratio | agreement before "
             "-> after | gap before -> after | candidate after |", "|---|---|---|---|---|---|---|---|---|"]
    for network, b, a in rows:
        lines.append(
            f"| {network} | {b['cold'][0]:.1f} ({b['cold'][1]:.1f}) | {a['cold'][0]:.1f} ({a['cold'][1]:.1f}) | "
            f"{b['warm'][0]:.1f} ({b['warm'][1]:.1f}) | {a['warm'][0]:.1f} ({a['warm'][1]:.1f}) | "
            f"{b['warm'][0] / a['warm'][0]:.1f}x | {100 * b['agreement']:.1f} -> {100 * a['agreement']:.1f} % | "
            f"{100 * (b['bit_accurate'] - b['chip_grid']):+.1f} -> {100 * (a['bit_accurate'] - a['chip_grid']):+.1f}"
            f" pp | {a['candidate']} |")
    if not args.no_doc:
        update_section("compile-speed", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
