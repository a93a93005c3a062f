"""benchmarks/vs_rockpool.py part (b): recipe overrides, readout decisions, the Vmem readout's threshold
conversion through rockpool's own quantizers, and float -> XyloSim agreement on a tiny trained-free model."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import vs_rockpool as vr
from hw_models.errors import InputError


def test_recipe_overrides_parse_json_values_and_refuse_unknown_fields():
    recipe = vr.recipe_with(vr.RockpoolRecipe(), ["lr=0.003", "readout=vmem", "dash_mem=[5, 6]",
                                                   "train_threshold=true"])
    assert (recipe.lr, recipe.readout, recipe.dash_mem, recipe.train_threshold) == (0.003, "vmem", (5, 6), True)
    with pytest.raises(InputError, match="name=value"):
        vr.recipe_with(vr.RockpoolRecipe(), ["learning_rate=1"])
    with pytest.raises(InputError, match="name=value"):
        vr.recipe_with(vr.RockpoolRecipe(), ["lr"])


def test_readout_decisions_follow_the_spike_count_and_summed_voltage_rules():
    spikes = np.zeros((3, 4, 3))
    spikes[0, 1, 2] = spikes[0, 2, 2] = 1          # most spikes: class 2
    spikes[1, 3, 0] = spikes[1, 1, 1] = 1          # tie: the earlier first spike (class 1) wins
    vmem = np.zeros((3, 4, 3))
    vmem[:, :, 1] = 1.0
    vmem[2, :, 0] = 2.0
    assert vr.readout_decisions(spikes, None, "spikes").tolist() == [2, 1, -1]   # no spike: no decision
    assert vr.readout_decisions(spikes, vmem, "vmem").tolist() == [1, 1, 0]


def test_vmem_readout_threshold_maps_to_at_most_32767_under_both_quantizers():
    pytest.importorskip("rockpool")
    pytest.importorskip("xylosim")
    from rockpool.transform import quantize_methods as q

    recipe = vr.RockpoolRecipe(hidden=8, readout="vmem")
    model = vr.rockpool_network(recipe, 5, 3, 0.25e-3)
    spec = vr.xylo_a2().mapper(vr.deployable(model, "vmem").as_graph(), weight_dtype="float")
    for name, exact in (("global_quantize", False), ("channel_quantize", True)):
        quant = getattr(q, name)(**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in spec.items()})
        th = np.asarray(quant["threshold_out"])
        assert th.max() <= 32767
        if exact:
            assert np.all(th == 32767)
        # the hidden layer keeps its own scale: threshold 1.0 times 127 / max|w| of the hidden weights
        assert np.abs(np.asarray(quant["weights_in"])).max() == 127


def test_float_model_and_xylosim_agree_on_an_untrained_vmem_readout():
    """Same rasters, same rule: the rockpool float model and its XyloSim deployment mostly decide alike (an
    oracle check of the pipeline plumbing, not of accuracy)."""
    pytest.importorskip("rockpool")
    pytest.importorskip("xylosim")
    import torch

    rasters, labels = vr.yinyang_data("val", 40)
    model = vr.rockpool_network(vr.RockpoolRecipe(hidden=32, readout="vmem", init_gain=0.3), 5, 3, 0.25e-3)
    with torch.no_grad():
        _, spikes, vmem = vr.rockpool_readout(model, torch.tensor(rasters, dtype=torch.float32), "vmem")
    float_pred = vr.readout_decisions(spikes.numpy(), vmem.numpy(), "vmem")
    rec = vr.rockpool_deploy(vr.deployable(model, "vmem"), rasters, "channel_quantize")
    chip_pred = vr.readout_decisions(rec["Spikes_out"], rec["Vmem_out"], "vmem")
    assert rec["Vmem_out"].shape == (40, rasters.shape[1], 3)
    assert np.mean(float_pred == chip_pred) >= 0.8
