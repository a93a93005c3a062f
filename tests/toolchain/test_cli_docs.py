"""The `spikeline encode` and `sim --decode` examples of docs/cli.md run as printed (on a small Yin-Yang network in
runs/yinyang/, as `spikeline train` + `compile` would leave it)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from toolchain.cli import main
from toolchain.compile import compile_network
from toolchain.network import Network

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
DT = 0.25e-3


def section_commands(heading: str) -> list[list[str]]:
    """The `spikeline ...` lines of the ```bash blocks under ``heading`` (up to the next ``## ``)."""
    text = DOC.read_text()
    body = text.split(heading, 1)[1].split("\n## ", 1)[0]
    lines = [ln for block in re.findall(r"```bash\n(.*?)```", body, re.S) for ln in block.splitlines()]
    return [shlex.split(ln.split("#", 1)[0])[1:] for ln in lines if ln.startswith("spikeline ")]


def test_encode_and_decode_examples_run(tmp_path, monkeypatch):
    run = tmp_path / "runs" / "yinyang"
    run.mkdir(parents=True)
    tau_s, tau_m = -DT / np.log(1 - 2**-4), -DT / np.log(1 - 2**-6)
    net = Network.random([5, 30, 3], seed=1, tau_syn=tau_s, tau_mem=tau_m, weight_mean=[1.0, 0.3],
                         weight_std=[1.0, 1.0], delays=[0, DT / 2], dt=DT, readout="leaky-integrator")
    net.metadata.update(task="yinyang", task_options={"dt": DT}, t_end=0.06, decision="integrated-voltage")
    net.save(run / "network.json")
    compile_network(net, "xylo-audio2")[0].save(run / "config.json")
    monkeypatch.chdir(tmp_path)
    commands = section_commands("## `spikeline sim`") + section_commands("## `spikeline encode`")
    assert sum(c[0] == "encode" for c in commands) >= 5 and any("--decode" in c for c in commands)
    for args in commands:
        if args[0] == "sim" and "out/tiny_config.json" in args:
            continue  # the plain sim examples need examples/simulate_config.py's files (tests/test_examples.py)
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 0, f"spikeline {' '.join(args)}\n{res.output}"
        if "--decode" in args:
            assert "decisions (integrated-voltage):" in res.output and "accuracy:" in res.output
