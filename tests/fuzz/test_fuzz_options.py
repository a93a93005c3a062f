"""Every numeric option of every command, given generated values (NaN, inf, negative, zero, huge, not a
number at all): a value outside the option's domain exits 2 naming the option; a value inside it runs
(commands that take long are only given values outside the domain)."""

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.test_fuzz_files import check_outcome
from toolchain.cli import main

INT_MAX = 2**63 - 1
#: option domains, written out independently of the CLI's own types
COUNT = ("int", 1, math.inf)
SEED = ("int", 0, INT_MAX)
POSITIVE = ("float", 0.0, math.inf, True)
NON_NEGATIVE = ("float", 0.0, math.inf, False)

#: command -> (base argv builder, {option: domain}, run values inside the domain?, exit codes of success)
OPTIONS = {
    "deploy": (lambda f: ["deploy", f["config"], "--device", "sim"],
               {"--steps": COUNT, "--rate": ("float", 0.0, 15.0, False), "--seed": SEED}, True, {0}),
    "hil": (lambda f: ["hil", f["config"], "-i", f["raster"], "--device", "sim"], {"--history": COUNT}, True, {0}),
    "compile": (lambda f: ["compile", f["network"], "--chip", "xylo-audio2", "-o", f["out"] / "c.json",
                           "--no-calibrate"],
                {"--dt": POSITIVE, "--headroom-bits": ("int", 0, 8)}, True, {0, 2}),
    "verify": (lambda f: ["verify", f["network"], f["config"], "-o", f["out"] / "v"],
               {"--limit": COUNT, "--xylosim-check": ("int", 0, INT_MAX)}, False, {0}),
    "train": (lambda f: ["train", "--task", "yinyang", "--out", f["out"]],
              {"--epochs": COUNT, "--batch-size": COUNT, "--lr": POSITIVE, "--seed": SEED,
               "--hop-delay-steps": NON_NEGATIVE, "--train-subset": COUNT, "--workers": COUNT,
               "--stop-after": COUNT}, False, {0}),
    "gradcheck": (lambda f: ["gradcheck"], {"--networks": ("int", 1, 1000), "--seed": SEED, "--tau-ratio": POSITIVE,
                                            "--delay": NON_NEGATIVE, "--t-end": POSITIVE}, False, {0}),
    "finetune": (lambda f: ["finetune", f["out"], "--out", f["out"] / "ft"],
                 {"--epochs": COUNT, "--lr": POSITIVE, "--batch-size": COUNT, "--train-subset": COUNT,
                  "--seed": SEED}, False, {0}),
    "demo": (lambda f: ["demo", "--out", f["out"]], {"--epochs": COUNT, "--hidden": COUNT, "--seed": SEED},
             False, {0}),
    "sim": (lambda f: ["sim", f["config"], "-i", f["raster"], "-o", f["out"] / "r.npz"],
            {"--show": ("int", 0, INT_MAX)}, True, {0}),
    "encode": (lambda f: ["encode", "--task", "yinyang", "-o", f["out"] / "r.npz"], {"--limit": COUNT}, False, {0}),
    "sweep": (lambda f: ["sweep", "--task", "yinyang", "--seeds", "0", "-o", f["out"] / "s"],
              {"--verify-limit": COUNT, "--workers": COUNT}, False, {0}),
    "import": (lambda f: ["import", f["network"], "--format", "nir", "-o", f["out"] / "n.json"], {"--dt": POSITIVE},
               False, {0}),
}

#: valid values above these are not run (they are valid, only slow)
RUN_CAP = {"--steps": 60, "--history": 10**6}

VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(2**70), 2**70).map(str),
    st.integers(-3, 70).map(str),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e999", "", "abc", "0x10", "1,5", "--json", "0", "-0.0",
                     "5e-324", "1e-300", "1e300"]),
)


def in_domain(domain: tuple, text: str) -> bool:
    """Does ``text`` name a value inside ``domain`` (as a Python literal of that kind)?"""
    kind, lo, hi = domain[:3]
    try:
        value = int(text) if kind == "int" else float(text)
    except ValueError:
        return False
    if kind == "float" and not math.isfinite(value):
        return False
    lo_open = len(domain) > 3 and domain[3]
    return (value > lo if lo_open else value >= lo) and value <= hi


@pytest.mark.parametrize("command", sorted(OPTIONS))
def test_numeric_option(command, valid_files, tmp_path, record_cases):
    base, domains, run_valid, success = OPTIONS[command]
    files = {**valid_files, "out": tmp_path}
    cases = []
    values = VALUES if run_valid else VALUES.filter(lambda v: not all(in_domain(d, v) for d in domains.values()))

    @settings(settings.get_profile("fuzz"))
    @given(st.sampled_from(sorted(domains)), values)
    def run(option, value):
        valid = in_domain(domains[option], value)
        if valid and (not run_valid or float(value) > RUN_CAP.get(option, math.inf)):
            return
        res = CliRunner().invoke(main, [*map(str, base(files)), f"{option}={value}"])
        cases.append((option, value))
        label = f"{command} {option}={value!r}"
        if not valid:
            assert res.exit_code == 2, f"[{label}] accepted: {res.output[-800:]}"
            assert option in res.output, f"[{label}] the error does not name the option: {res.output[-800:]}"
        check_outcome(res, not valid, success, label)

    run()
    assert cases, "no case ran"
    record_cases(len(cases))


def test_usage_errors_honour_json(valid_files):
    """A bad option with --json: the problem as JSON on stdout, exit 2 (not click's usage text)."""
    import json

    res = CliRunner().invoke(main, ["deploy", str(valid_files["config"]), "--device", "sim", "--rate", "nan",
                                    "--json"])
    assert res.exit_code == 2
    doc = json.loads(res.stdout)
    assert doc["ok"] is False and "--rate" in doc["problems"][0]["message"]
    res = CliRunner().invoke(main, ["sim", "--json"])
    assert res.exit_code == 2 and json.loads(res.stdout)["error"] == "MissingParameter"
    res = CliRunner().invoke(main, ["no-such-command", "--json"])
    assert res.exit_code == 2 and json.loads(res.stdout)["error"] == "NoSuchCommand"
