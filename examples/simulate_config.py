"""Build a small Xylo Audio 2 configuration by hand, check it, and run it on two engines.

    python examples/simulate_config.py [OUT_DIR]

Writes OUT_DIR/tiny_config.json and OUT_DIR/tiny_raster.npy (default OUT_DIR: ./out), simulates them
with Spikeline's bit-accurate simulator and, if installed, with SynSense's xylosim, and shows that the
two records are identical.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from hw_models import ChipConfig, check, resources, simulate
from hw_models.errors import BackendUnavailable

out = Path(sys.argv[1] if len(sys.argv) > 1 else "out")
rng = np.random.default_rng(0)

# 4 input channels -> 20 hidden neurons (sparse recurrent) -> 2 readouts, one synapse.
w_rec = rng.integers(-40, 60, (20, 20)) * (rng.random((20, 20)) < 0.2)
config = ChipConfig.create(
    "xylo-audio2", dt=1e-3,
    weights_in=rng.integers(0, 100, (4, 20)), weights_rec=w_rec, weights_out=rng.integers(-50, 100, (20, 2)),
    threshold=600, threshold_out=400, dash_mem=4, dash_syn=2, dash_mem_out=4, dash_syn_out=2,
    weight_shift_in=2, weight_shift_rec=1,
)
assert check(config) == [], check(config)
for row in resources(config):
    print(f"  {row.resource:32s} {row.used:>6} / {row.available}")

raster = (rng.random((200, 4)) < 0.1).astype(np.int64)
config.save(out / "tiny_config.json")
np.save(out / "tiny_raster.npy", raster)

record = simulate(config, raster)
print(f"sim: {int(record['Spikes'].sum())} hidden spikes, readout spikes per channel "
      f"{record['Spikes_out'].sum(0).tolist()}")

try:
    from deploy.backends import get_backend

    xylosim = get_backend("xylosim")
except BackendUnavailable as exc:
    print(f"xylosim not available: {exc}")
else:
    xylosim.apply(config)
    theirs = xylosim.evolve(raster)
    diff = record.first_difference(theirs)
    print("xylosim: identical on every record key" if diff is None else f"xylosim differs: {diff}")
    assert diff is None
print(f"wrote {out / 'tiny_config.json'} and {out / 'tiny_raster.npy'}")
