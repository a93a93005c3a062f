"""``compile_network``: the one compile path, the same from Python and from ``spikeline compile``.

map -> quantize -> design rules (:mod:`toolchain.compile.compiler`) -> calibration on training data
(:mod:`toolchain.compile.calibrate`) -> health check (:mod:`toolchain.compile.health`) -> provenance.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from hw_models.chips import ChipSpec
from hw_models.config import ChipConfig
from hw_models.errors import InputError
from toolchain.compile.calibrate import CalibrationData, Runs, calibration_data, search
from toolchain.compile.compiler import CompileError, check_dt, compile_fixed
from toolchain.compile.health import check_health as run_health_check
from toolchain.compile.report import CompileReport
from toolchain.dist import Executor
from toolchain.network import Network


def compile_network(net: Network, chip: str | ChipSpec, dt: float | None = None, *, calibrate: bool = True,
                    headroom_bits: int | None = None, gain_correction: bool | None = None,
                    check_health: bool = True, samples: list | None = None, reuse: CompileReport | None = None,
                    source: str | None = None, progress: bool = False, executor: Executor | None = None
                    ) -> tuple[ChipConfig, CompileReport]:
    """Compile ``net`` for ``chip``: a :class:`~hw_models.config.ChipConfig` and its :class:`CompileReport`.

    Raises :class:`CompileError` with every violation (the network does not fit) or every health problem.

    * ``calibrate`` (default on): when the network names its task (``spikeline train`` records it) or
      ``samples`` are given, candidates are run bit-accurately on training samples and the one whose
      decisions agree best with the float model's is kept (docs/compiler.md). ``headroom_bits`` and
      ``gain_correction`` fix those choices instead of trying them. ``calibrate=False``: one build, headroom
      2 bits and no gain correction unless given.
    * ``check_health`` (default on): the configuration is run on the calibration samples and compared with
      the float model layer by layer (:mod:`toolchain.compile.health`); a readout on the int16 rail, or a
      layer that goes silent or saturates where the float model does not, is an error. The result is in
      ``report.health``.
    * ``samples``: your own calibration spike trains ``(times, channels)`` (needs ``net.metadata["t_end"]``).
    * ``reuse``: the report of an earlier compile of the same architecture: its settings are kept exactly (no
      calibration, no health check: they were checked when chosen), as fine-tuning does between minibatches.
    * ``progress``: a progress bar on stderr while calibrating.
    * ``executor`` (:mod:`toolchain.dist`, default: this process): the calibration's and the health check's
      simulations and float forward passes are split by sample among its workers; the configuration and the
      report are the same on any executor.

    The configuration's ``provenance`` records the network's SHA-256 (:meth:`Network.sha256`), the settings
    (enough to rebuild it with ``reuse``), the package version and the time.
    """
    if headroom_bits is not None and not 0 <= headroom_bits <= 8:
        raise InputError(f"headroom_bits must be in 0..8, got {headroom_bits}")
    check_dt(net, dt, source)
    if reuse is not None:
        config, report = compile_fixed(net, chip, dt, reuse=reuse, source=source)
        config.provenance = provenance(net, report, calibrate=report.calibrated)
        return config, report
    data = calibration_data(net, dt, samples, executor)  # the health is measured even when it is not enforced
    runs = Runs(data) if data is not None else None
    if calibrate and data is not None:
        with _progress(progress) as tick:
            config, report = search(net, chip, dt, data, runs, headroom_bits, gain_correction, source, tick)
    else:
        config, report = compile_fixed(net, chip, dt, 2 if headroom_bits is None else headroom_bits,
                                       bool(gain_correction), source=source)
        if calibrate:
            report.notes.append("not calibrated: the network names no task (pass samples=... to calibrate)")
    if data is None:
        report.notes.append("health not checked: no calibration samples (the network names no task)")
    else:
        health = run_health_check(net, config, report, runs.summary(config), data.float_runs)
        report.health = health.to_dict()
        if check_health and not health.ok:
            raise CompileError(health.problems, report, source)
    config.provenance = provenance(net, report, calibrate=calibrate and data is not None)
    return config, report


def health_of(net: Network, config: ChipConfig, report: CompileReport, samples: list | None = None):
    """The :class:`~toolchain.compile.health.Health` of any configuration compiled from ``net`` (``report``: its
    compile report), on the network's calibration samples or on ``samples``."""
    data = calibration_data(net, config.dt, samples)
    if data is None:
        raise InputError("no calibration samples: the network names no task; pass samples=[(times, channels), ...]")
    return run_health_check(net, config, report, Runs(data).summary(config), data.float_runs)


def compile_settings(report: CompileReport) -> dict:
    """What rebuilds the configuration exactly (``compile_network(net, chip, reuse=...)``), from a report."""
    kept = next((c for c in report.candidates if c.get("kept")), {})
    return {"chip": report.chip, "dt": report.dt, "layer_sizes": list(report.layer_sizes),
            "calibrated": report.calibrated, "headroom_bits": report.headroom_bits,
            "gain_correction": report.gain_correction, "shifts": dict(report.shifts),
            "threshold_scales": dict(report.threshold_scales), "readout_attenuation": report.readout_attenuation,
            "state_limit": kept.get("state_limit"), "rate_matching": kept.get("rate_matching", False),
            "candidate": kept.get("name")}


def provenance(net: Network, report: CompileReport, calibrate: bool) -> dict:
    """The configuration's ``provenance`` object (docs/formats.md)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        spikeline = version("spikeline")
    except PackageNotFoundError:
        spikeline = "unknown"
    return {"network_sha256": net.sha256(), "compile": {**compile_settings(report), "calibrate": calibrate},
            "spikeline": spikeline,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")}


class _progress:
    """A transient rich progress bar on stderr (one step per calibration candidate), or nothing."""

    def __init__(self, show: bool):
        self.show = show

    def __enter__(self) -> Callable[[str], None]:
        if not self.show:
            return lambda _: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(TextColumn("calibrating"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.description}"), TimeElapsedColumn(),
                             console=Console(stderr=True), transient=True)
        self._bar.start()
        self._task = self._bar.add_task("", total=None)

        def tick(description: str) -> None:
            self._bar.update(self._task, advance=1, description=description)

        return tick

    def __exit__(self, *exc: object) -> None:
        if self.show:
            self._bar.stop()


__all__ = ["CalibrationData", "compile_network", "compile_settings", "health_of", "provenance"]
