"""``spikeline gradcheck``: do FP (reverse and forward mode), EventProp and finite differences agree?"""

from __future__ import annotations

import json

import click

from hw_models.errors import InputError
from toolchain.cli.common import NON_NEGATIVE, POSITIVE, SEED, json_option, report_errors

LOSS_CHOICES = ["first-spike", "spike-count", "max-voltage", "integrated-voltage"]


def _make_loss(name: str):
    from toolchain.losses import FirstSpikeCE, IntegratedVoltageCE, MaxVoltageCE, SpikeCountCE

    return {"first-spike": FirstSpikeCE(tau0=2e-3, tau1=0.2), "spike-count": SpikeCountCE(tau_count=0.02, gain=0.3),
            "max-voltage": MaxVoltageCE(), "integrated-voltage": IntegratedVoltageCE()}[name]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--networks", "-n", default=5, show_default=True, type=click.IntRange(1, 1000),
              help="How many random networks to check (seeds SEED, SEED+1, ...).")
@click.option("--seed", default=0, show_default=True, type=SEED, help="First random seed.")
@click.option("--sizes", default="4,6,3", show_default=True,
              help="Layer sizes, input first, comma-separated (keep them small: finite differences cost "
                   "4 forward passes per parameter).")
@click.option("--readout", type=click.Choice(["spiking", "leaky-integrator"]), default="spiking",
              show_default=True, help="Readout layer kind.")
@click.option("--loss", "loss_name", type=click.Choice(LOSS_CHOICES), default=None,
              help="Loss [default: first-spike for a spiking readout, max-voltage for a leaky integrator].")
@click.option("--recurrent", is_flag=True, help="Give every hidden layer recurrent weights.")
@click.option("--tau-ratio", type=POSITIVE, default=None,
              help="tau_mem / tau_syn (1 and 2 use the closed-form crossings) [default: random in 0.5..3].")
@click.option("--delay", type=NON_NEGATIVE, default=0.0, show_default=True,
              help="Delay in seconds of every hop after the first and of recurrent connections.")
@click.option("--network", "network_path", type=click.Path(dir_okay=False), default=None,
              help="Check this network (spikeline.network/1 JSON) on random inputs instead of random networks.")
@click.option("--t-end", type=POSITIVE, default=0.08, show_default=True, help="Trial length in seconds.")
@json_option
@report_errors
def gradcheck(networks: int, seed: int, sizes: str, readout: str, loss_name: str | None, recurrent: bool,
              tau_ratio: float | None, delay: float, network_path: str | None, t_end: float, as_json: bool) -> None:
    """Compare the gradient engines on random networks and print their agreement.

    For each network: FP forward mode and EventProp against FP reverse mode (expect < 1e-8, round-off),
    and FP and EventProp against central finite differences over the parameters whose perturbation
    leaves every spike in place (expect < 1e-5). Exits with status 1 if any check fails. Use it after
    changing the model or an engine.

    \b
    Examples:
      spikeline gradcheck
      spikeline gradcheck --networks 20 --recurrent --delay 1e-3 --tau-ratio 2
      spikeline gradcheck --readout leaky-integrator --loss integrated-voltage --sizes 3,5,4,2
      spikeline gradcheck --network runs/yy/network.json --networks 3 --json
    """
    from toolchain.grad.check import EXACT_TOL, FD_TOL, compare_engines, random_inputs, random_problem
    from toolchain.network import load_network

    try:
        layer_sizes = [int(x) for x in sizes.split(",")]
    except ValueError:
        raise InputError(f"--sizes must be comma-separated integers like 4,6,3, got {sizes!r}") from None
    if len(layer_sizes) < 2 or min(layer_sizes) < 1:
        raise InputError("--sizes needs at least an input and an output size, all >= 1")
    user_net = load_network(network_path) if network_path else None
    if user_net is not None:
        readout = user_net.readout
    loss_name = loss_name or ("first-spike" if readout == "spiking" else "max-voltage")
    loss = _make_loss(loss_name)
    results = []
    for k in range(networks):
        if user_net is not None:
            net = user_net
            inputs, labels = random_inputs(net, seed + k)
        else:
            net, inputs, labels = random_problem(seed + k, layer_sizes, readout, recurrent, tau_ratio=tau_ratio,
                                                 delay=delay)
        agreement = compare_engines(net, inputs, labels, loss, t_end)
        results.append({"seed": seed + k, **agreement.to_dict()})
        if not as_json:
            e = agreement.errors
            click.echo(f"seed {seed + k}: {'ok  ' if agreement.ok else 'FAIL'} loss {agreement.loss:.4g}, "
                       f"spikes/layer {[round(s, 1) for s in agreement.spikes_per_layer]}, "
                       f"|grad| {agreement.gradient_scale:.3g}; exact engines: fwd {e['fp-forward-vs-fp']:.1e}, "
                       f"eventprop {e['eventprop-vs-fp']:.1e} (tol {EXACT_TOL:g}); vs finite differences "
                       f"({agreement.fd_valid_fraction:.0%} of {agreement.n_params} params usable): "
                       f"fp {e['fp-vs-finite-diff']:.1e}, eventprop {e['eventprop-vs-finite-diff']:.1e} "
                       f"(tol {FD_TOL:g})")
    all_ok = all(r["ok"] for r in results)
    if as_json:
        click.echo(json.dumps({"ok": all_ok, "loss": loss_name, "results": results}, indent=2))
    else:
        click.echo(f"{sum(r['ok'] for r in results)}/{len(results)} networks agree")
    if not all_ok:
        raise SystemExit(1)
