"""The bit-for-bit check of the simulator against SynSense's xylosim on the verified configuration.

``spikeline verify`` (``--xylosim-check N``) and ``spikeline demo`` run the first samples of the split on both
and compare every record key (:func:`deploy.hil.run_hil`); the result goes into the verify report. Without
xylosim installed the check is skipped with a note.
"""

from __future__ import annotations

import numpy as np

from hw_models.config import ChipConfig

#: samples of the split the check runs by default (xylosim is much slower than the compiled simulator)
XYLOSIM_SAMPLES = 16


def xylosim_check(config: ChipConfig, rasters: np.ndarray, split: str = "test") -> dict:
    """Run ``rasters`` ``(B, T, N_in)`` on xylosim and on the bit-accurate simulator and compare every record key.

    Returns ``{"ran", "samples", "identical", "keys_compared", "mismatches", "divergence", "summary"}``; ``ran`` is
    False (and ``summary`` says why) when xylosim is not available."""
    from deploy.hil import run_hil
    from hw_models.errors import BackendUnavailable

    n = int(rasters.shape[0])
    try:
        result = run_hil(config, rasters, device="xylosim", reference="sim")
    except BackendUnavailable as exc:
        return {"ran": False, "samples": 0, "identical": None, "keys_compared": [], "mismatches": {},
                "divergence": None, "summary": f"skipped ({exc})"}
    summary = (f"identical on every record key ({n} {split} samples)" if result.ok
               else f"DIFFERS: {result.format_text()}")
    return {"ran": True, "samples": n, "identical": result.ok, "keys_compared": list(result.keys_compared),
            "mismatches": {k: int(v) for k, v in result.mismatches.items()},
            "divergence": None if result.divergence is None else result.divergence.describe(), "summary": summary}


__all__ = ["XYLOSIM_SAMPLES", "xylosim_check"]
