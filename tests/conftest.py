"""Suite-wide hooks: the fuzz suite's case count, summed over xdist workers, printed at the end."""

from __future__ import annotations

_FUZZ_CASES: dict[str, int] = {}


def pytest_runtest_logreport(report):
    for name, value in getattr(report, "user_properties", []):
        if name == "fuzz_cases" and report.when == "call":
            _FUZZ_CASES[report.nodeid] = _FUZZ_CASES.get(report.nodeid, 0) + value


def pytest_terminal_summary(terminalreporter):
    if _FUZZ_CASES:
        terminalreporter.write_line(f"fuzz: {sum(_FUZZ_CASES.values())} generated cases tried in "
                                    f"{len(_FUZZ_CASES)} fuzz tests (SPIKELINE_FUZZ_EXAMPLES scales them)")
