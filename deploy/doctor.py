"""``spikeline doctor``: what is installed, which backends work, whether a dev kit is connected, and
known-bad installs.

Each finding is a :class:`Check` with a status: ``ok``, ``warn`` (works, but look), ``fail`` (broken,
with the fix in the detail) or ``absent`` (optional and not installed). The xylosim backend is not
just imported: a small network runs on it and on Spikeline's simulator, and the two records must be
bit-identical. samna is never imported unless its installed files show it is the real package.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deploy.backends.samna import DEVICE_TYPES, import_samna, samna_status
from deploy.bundle import package_versions
from hw_models.config import ChipConfig

PACKAGES = ("spikeline", "numpy", "numba", "scipy", "pydantic", "click", "rich", "nir", "onnx",
            "onnxruntime", "xylosim", "samna", "rockpool")
#: The xylosim release Spikeline's simulator was verified against bit for bit (xylo.md §0).
VERIFIED_XYLOSIM = "0.1.3"
USB_ROOT = Path("/sys/bus/usb/devices")
USB_MARKERS = ("synsense", "xylo")


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail | absent
    detail: str


@dataclass
class DoctorReport:
    python: str
    platform: str
    packages: dict[str, str | None]
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def smoke_config(chip: str = "xylo-audio2", seed: int = 0) -> ChipConfig:
    """A small deterministic network with recurrence, two synapses, aliases and bias."""
    rng = np.random.default_rng(seed)
    n_h, n_o = 8, 2
    return ChipConfig.create(
        chip, 1e-3, rng.integers(-40, 60, (16, n_h, 2)), rng.integers(-40, 60, (n_h, n_o)),
        rng.integers(600, 1200, n_h), rng.integers(300, 600, n_o),
        weights_rec=rng.integers(-40, 40, (n_h, n_h, 2)) * (rng.random((n_h, n_h, 2)) < 0.3),
        aliases=[[7]] + [[] for _ in range(n_h - 1)], dash_mem=2, dash_syn=2, dash_syn_2=3,
        bias=rng.integers(-5, 6, n_h), weight_shift_in=1)


def smoke_raster(steps: int = 50, seed: int = 0) -> np.ndarray:
    return np.minimum(np.random.default_rng(seed).poisson(0.4, (steps, 16)), 15)


def check_backends() -> list[Check]:
    from deploy.backends import get_backend
    from deploy.hil import run_hil

    config, raster = smoke_config(), smoke_raster()
    checks = []
    try:
        sim = get_backend("sim")
        sim.apply(config)
        spikes = int(sim.evolve(raster)["Spikes"].sum())
        checks.append(Check("backend sim", "ok", f"ran a {raster.shape[0]}-step smoke network "
                                                 f"({spikes} hidden spikes)"))
    except Exception as exc:  # doctor reports every failure instead of stopping at the first
        checks.append(Check("backend sim", "fail", f"{type(exc).__name__}: {exc}"))
    if package_versions(("xylosim",))["xylosim"] is None:
        checks.append(Check("backend xylosim", "absent", "xylosim is not installed (SynSense's engine, "
                                                         "optional: pip install 'spikeline[xylosim]')"))
    else:
        try:
            report = run_hil(config, raster, device="xylosim", reference="sim")
            checks.append(Check("backend xylosim", "ok" if report.ok else "fail",
                                "bit-identical to sim on the smoke network" if report.ok else
                                f"differs from sim: {report.divergence.describe()}"))
        except Exception as exc:
            checks.append(Check("backend xylosim", "fail", f"{type(exc).__name__}: {exc}"))
    status = samna_status()
    if not status.installed:
        checks.append(Check("backend samna", "absent", "samna is not installed (needed only for dev "
                                                       "kits; it comes from SynSense's distribution)"))
    elif status.stub:
        checks.append(Check("backend samna", "fail", f"samna {status.version} is the public-index stub: "
                                                     f"{status.detail}; run `pip uninstall samna`"))
    else:
        checks.append(Check("backend samna", "warn" if status.version is None else "ok",
                            f"samna {status.version or '?'} at {status.location}: {status.detail}; "
                            "Spikeline's samna adapter is untested on hardware"))
    return checks


def usb_devices(root: Path = USB_ROOT) -> list[str]:
    """USB devices whose manufacturer or product names SynSense or Xylo (no samna needed)."""
    found = []
    if not root.is_dir():
        return found
    for dev in sorted(root.iterdir()):
        names = []
        for attr in ("manufacturer", "product"):
            try:
                names.append((dev / attr).read_text().strip())
            except OSError:
                continue
        text = " ".join(names)
        if any(m in text.lower() for m in USB_MARKERS):
            found.append(f"{text} (usb {dev.name})")
    return found


def check_device(usb_root: Path = USB_ROOT) -> Check:
    status = samna_status()
    if status.usable and status.version is not None:
        try:
            samna = import_samna()
            kits = [d.device_type_name for d in samna.device.get_all_devices()
                    if any(d.device_type_name in types for types in DEVICE_TYPES.values())]
            return Check("device", "ok" if kits else "warn",
                         f"samna sees {', '.join(kits)}" if kits else "samna sees no Xylo dev kit")
        except Exception as exc:
            return Check("device", "fail", f"samna could not list devices: {type(exc).__name__}: {exc}")
    usb = usb_devices(usb_root)
    if usb:
        return Check("device", "warn", f"USB device(s) {'; '.join(usb)}, but without samna it cannot be "
                                       "used")
    return Check("device", "absent", "no Xylo dev kit seen on USB (checked by manufacturer/product "
                                     "name; samna is not available to ask)")


def check_known_bad(packages: dict[str, str | None]) -> list[Check]:
    out = []
    xs = packages.get("xylosim")
    if xs is not None and xs != VERIFIED_XYLOSIM:
        out.append(Check("xylosim version", "warn", f"xylosim {xs} is installed; Spikeline's simulator "
                                                    f"was verified bit for bit against {VERIFIED_XYLOSIM}"))
    status = samna_status()
    if status.stub and packages.get("rockpool"):
        out.append(Check("rockpool + samna stub", "fail", "with the samna stub installed, `import "
                         "rockpool.devices.xylo` fails (it imports samna, which tries to download "
                         "offline); run `pip uninstall samna`"))
    for name in ("numpy", "pydantic", "click", "numba"):
        if packages.get(name) is None:
            out.append(Check(f"{name} missing", "fail", f"core dependency {name} is not installed; "
                                                        "reinstall Spikeline (`pip install -e .`)"))
    if not out:
        out.append(Check("known-bad installs", "ok", "none found (samna stub, rockpool broken by it, "
                                                     "untested xylosim, missing core packages)"))
    return out


def check_onnx() -> Check:
    """Export the smoke network as an ONNX chip model and run it in onnxruntime against the simulator."""
    import importlib.util
    import tempfile

    missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        return Check("onnx round trip", "absent", f"{' and '.join(missing)} not installed (optional: "
                                                  "pip install 'spikeline[onnx]' for `spikeline export --format onnx`)")
    try:
        from hw_models.simulator import simulate
        from toolchain.io.onnx import export, run

        config, raster = smoke_config(), smoke_raster()
        with tempfile.TemporaryDirectory() as tmp:
            ours = run(export(config, Path(tmp) / "smoke.onnx"), raster)
        ref = simulate(config, raster)
        same = [k for k in ours if np.array_equal(ours[k], ref[k])]
        if len(same) != len(ours):
            return Check("onnx round trip", "fail", f"the exported chip model differs from the simulator on "
                                                    f"{sorted(set(ours) - set(same))}; report this as a bug")
        return Check("onnx round trip", "ok", f"exported the smoke network, ran {raster.shape[0]} steps in "
                                              f"onnxruntime: {len(same)} record keys bit-identical")
    except Exception as exc:  # noqa: BLE001 - any failure of the optional runtime is the finding
        return Check("onnx round trip", "fail", f"{type(exc).__name__}: {exc}")


def run_doctor(usb_root: Path = USB_ROOT) -> DoctorReport:
    packages = package_versions(PACKAGES)
    report = DoctorReport(python=sys.version.split()[0], platform=platform.platform(), packages=packages)
    report.checks += check_backends()
    report.checks.append(check_onnx())
    report.checks.append(check_device(usb_root))
    report.checks += check_known_bad(packages)
    return report
