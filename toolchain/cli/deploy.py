"""``spikeline deploy``: write a verified bundle or a RAM image, or apply a configuration to a backend."""

from __future__ import annotations

import json
from typing import Any

import click
import numpy as np

from deploy.bundle import load_deployable
from hw_models.errors import BackendUnavailable, InputError, SpikelineError
from hw_models.files import read_json
from hw_models.rules import raise_if_invalid
from toolchain.cli.common import COUNT, SEED, FiniteFloatRange, json_option, report_errors


def read_json_object(path: str, what: str) -> Any:
    """The encoding (a JSON object that is no Spikeline document) or the float network (validated)."""
    if what == "network":
        from toolchain.network import NETWORK_FIX, from_dict

        doc = read_json(path, "a network", NETWORK_FIX, expect="spikeline.network/")
        from_dict(doc, source=path)  # a bundle stores only a network that loads
        return doc
    doc = read_json(path, "an encoding", "give a JSON object describing the input encoding", expect="")
    if not isinstance(doc, dict):
        raise InputError(f"{path}: the encoding must be a JSON object, got {type(doc).__name__}")
    return doc


def smoke_run(cfg, device: str, steps: int, rate: float, seed: int) -> dict[str, Any]:
    """Apply ``cfg`` to ``device`` and run a seeded Poisson raster; off-sim devices are compared to sim."""
    from deploy.backends import get_backend
    from deploy.hil import run_hil

    raster = np.minimum(np.random.default_rng(seed).poisson(rate, (steps, cfg.n_inputs)), 15)
    backend = get_backend(device)
    backend.apply(cfg)
    out: dict[str, Any] = {"device": device, "applied": True, "steps": steps, "rate": rate, "seed": seed}
    try:
        rec = backend.evolve(raster)
    except BackendUnavailable as exc:  # e.g. a dev kit: configuration applied, streaming not available
        out["smoke_run"] = f"not run: {exc}"
        return out
    out["hidden_spikes"] = int(rec["Spikes"].sum(dtype=np.int64))
    out["readout_spikes"] = rec["Spikes_out"].sum(axis=0, dtype=np.int64).tolist()
    if device != "sim":
        report = run_hil(cfg, raster, device=backend, reference="sim")
        out["matches_sim"] = report.ok
        if not report.ok:
            out["first_divergence"] = report.divergence.describe()
    return out


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--bundle", "bundle_path", type=click.Path(dir_okay=False),
              help="Write a verified bundle (configuration + encoding + network + metadata, SHA-256 "
                   "manifest) to this file.")
@click.option("--device", "-d", type=click.Choice(["sim", "xylosim", "samna"]),
              help="Apply the configuration to this backend and run a seeded smoke raster; xylosim "
                   "and samna results are compared with sim bit for bit. samna needs a dev kit.")
@click.option("--ram-image", "ram_dir", type=click.Path(file_okay=False),
              help="Write the Xylo Audio 2 / Audio 3 RAM image (one hex file per RAM + "
                   "ram_image.json) into this folder.")
@click.option("--test-bench", "bench_dir", type=click.Path(file_okay=False),
              help="Write hardware test-bench vectors for the raster given with --input into this folder: "
                   "RAM image, input events and the expected state RAMs of every step (xylosim's layout).")
@click.option("--input", "-i", "raster_path", type=click.Path(dir_okay=False),
              help="Input raster .npy (T, N_in) for --test-bench.")
@click.option("--encoding", "encoding_path", type=click.Path(dir_okay=False),
              help="JSON object describing the input encoding, stored in the bundle.")
@click.option("--network", "network_path", type=click.Path(dir_okay=False),
              help="Float network JSON the configuration was compiled from, stored in the bundle.")
@click.option("--steps", type=COUNT, default=100, show_default=True,
              help="Length of the smoke raster for --device.")
@click.option("--rate", type=FiniteFloatRange(min=0, max=15), default=0.3, show_default=True,
              help="Mean events per channel and step of the smoke raster (Poisson, capped at 15).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the smoke raster.")
@json_option
@report_errors
def deploy(config: str, bundle_path: str | None, device: str | None, ram_dir: str | None,
           bench_dir: str | None, raster_path: str | None, encoding_path: str | None,
           network_path: str | None, steps: int, rate: float, seed: int, as_json: bool) -> None:
    """Deploy CONFIG (a chip configuration JSON, or a bundle, which is verified first).

    Give at least one of --bundle, --ram-image, --test-bench, --device.

    \b
    Example:
      spikeline deploy config.json --bundle net.bundle --encoding enc.json --network network.json
      spikeline deploy net.bundle --device xylosim --steps 200
      spikeline deploy config.json --ram-image ram/
      spikeline deploy config.json --test-bench bench/ --input raster.npy
    """
    if not (bundle_path or device or ram_dir or bench_dir):
        raise SpikelineError("nothing to do: give --bundle OUT, --ram-image DIR, --test-bench DIR and/or "
                             "--device D (see spikeline deploy --help)")
    if bool(bench_dir) != bool(raster_path):
        raise SpikelineError("--test-bench DIR and --input RASTER go together")
    cfg, source_bundle = load_deployable(config)
    raise_if_invalid(cfg, source=str(config))
    result: dict[str, Any] = {"ok": True, "config": str(config), "chip": cfg.chip}
    if bundle_path:
        from deploy.bundle import load_bundle, save_bundle

        encoding = (read_json_object(encoding_path, "encoding") if encoding_path
                    else source_bundle.encoding if source_bundle else None)
        if encoding is not None and not isinstance(encoding, dict):
            raise InputError(f"{encoding_path}: the encoding must be a JSON object")
        network = (read_json_object(network_path, "network") if network_path
                   else source_bundle.network if source_bundle else None)
        save_bundle(bundle_path, cfg, encoding, network)
        written = load_bundle(bundle_path)  # read back: the file on disk verifies
        result["bundle"] = {"path": str(bundle_path),
                            "members": sorted(written.manifest["members"])}
    if ram_dir:
        from deploy.ram_image import build_ram_image

        image = build_ram_image(cfg)
        image.save(ram_dir)
        result["ram_image"] = {"path": str(ram_dir),
                               "words": {name: len(w) for name, w in image.words.items()}}
    if bench_dir:
        from deploy.ram_image import save_test_bench
        from toolchain.cli.sim import load_raster

        raster = load_raster(raster_path)
        save_test_bench(cfg, raster, bench_dir)
        result["test_bench"] = {"path": str(bench_dir), "steps": int(raster.shape[0])}
    if device:
        result["device"] = smoke_run(cfg, device, steps, rate, seed)
        if result["device"].get("matches_sim") is False:
            result["ok"] = False
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        if "bundle" in result:
            click.echo(f"bundle: {bundle_path} ({', '.join(result['bundle']['members'])}; verified)")
        if "ram_image" in result:
            n = sum(result["ram_image"]["words"].values())
            click.echo(f"RAM image: {ram_dir} ({len(result['ram_image']['words'])} RAMs, {n} words)")
        if "test_bench" in result:
            click.echo(f"test bench: {bench_dir} ({result['test_bench']['steps']} steps of expected state)")
        if "device" in result:
            d = result["device"]
            line = f"{device}: configuration applied"
            if "smoke_run" in d:
                line += f"; smoke run {d['smoke_run']}"
            else:
                line += (f"; {steps}-step smoke raster: {d['hidden_spikes']} hidden spikes, readout "
                         f"spikes {d['readout_spikes']}")
                if "matches_sim" in d:
                    line += ("; bit-identical to sim" if d["matches_sim"]
                             else f"; DIFFERS from sim: {d['first_divergence']}")
            click.echo(line)
    if not result["ok"]:
        raise SystemExit(1)
