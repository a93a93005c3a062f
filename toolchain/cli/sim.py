"""``spikeline sim``: run a chip configuration on an input raster, bit-accurately."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np

from hw_models.config import load_config
from hw_models.files import read_npy
from hw_models.simulator import validate_raster
from toolchain.cli.common import json_option, report_errors


def load_raster(path: str | Path) -> np.ndarray:
    """Read a ``.npy`` raster of integer spike counts, ``(T, N_in)`` or ``(B, T, N_in)``."""
    return read_npy(path, "a raster", "save integer spike counts with numpy.save('raster.npy', counts)")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--input", "-i", "raster_path", required=True, type=click.Path(dir_okay=False),
              help="Input raster .npy: integer spike counts (T, N_in) or a batch (B, T, N_in).")
@click.option("--out", "-o", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Where to write the record (.npz with Spikes, Vmem, Isyn, Isyn2, Spikes_out, Vmem_out, "
                   "Isyn_out).")
@click.option("--backend", "-b", type=click.Choice(["sim", "xylosim", "samna"]), default="sim",
              show_default=True,
              help="sim: Spikeline's bit-accurate simulator; xylosim: SynSense's engine (pip install "
                   "xylosim); samna: a connected Xylo dev kit.")
@click.option("--record", type=click.Choice(["all", "spikes"]), default="all", show_default=True,
              help="'spikes' keeps only Spikes and Spikes_out (faster, smaller).")
@click.option("--clip-inputs", is_flag=True,
              help="Let counts above 15 per channel and step be clipped to 15, as the chip does. "
                   "Without it such a raster is refused.")
@json_option
@report_errors
def sim(config: str, raster_path: str, out_path: str, backend: str, record: str, clip_inputs: bool,
        as_json: bool) -> None:
    """Simulate CONFIG (a chip configuration JSON) on an input raster and save the record.

    \b
    Example:
      spikeline sim config.json --input raster.npy --out record.npz
      spikeline sim config.json --input batch.npy --out rec.npz --backend xylosim --record spikes
    """
    from deploy.backends import get_backend

    cfg = load_config(config)
    raster = load_raster(raster_path)
    validate_raster(raster, cfg.n_inputs, clip_inputs)  # fail before starting a backend
    engine = get_backend(backend)
    engine.apply(cfg)
    start = time.perf_counter()
    rec = engine.evolve(raster, record=record, clip_inputs=clip_inputs)
    elapsed = time.perf_counter() - start
    rec.save(out_path)
    spikes = rec["Spikes"]
    summary = {
        "ok": True, "backend": backend, "config": str(config), "out": str(out_path),
        "shape": list(raster.shape), "keys": sorted(rec.keys()),
        "hidden_spikes": int(spikes.sum(dtype=np.int64)),
        "readout_spikes": int(rec["Spikes_out"].sum(dtype=np.int64)),
        "seconds": round(elapsed, 4),
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(f"{backend}: {raster.shape} -> {out_path} ({summary['hidden_spikes']} hidden spikes, "
                   f"{summary['readout_spikes']} readout spikes, {elapsed:.3f} s)")
