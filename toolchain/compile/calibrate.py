"""Calibration on training data: the compiler runs candidate configurations bit-accurately and keeps the one
whose decisions agree best with the float model's.

Steps (docs/compiler.md, "Calibration on training data"):

1. **shifts off the rails**: the shift of every layer whose integer states pass a limit (half or 7/8 of the
   int16 range) on the calibration samples is lowered until none does (a leaky readout already at shift 0 has
   its weights coarsened by powers of two instead);
2. **rate matching** (optional): each spiking layer's integer thresholds are scaled by one factor ``f`` so
   that the chip fires as many spikes as the float model on the calibration samples;
3. **choice**: every candidate (threshold headroom 2/1/0 bits x state limit x {thresholds as they are, rate
   matched, divided by the kernel gain}) is scored by ``agreement = mean(decision_chip == decision_float)``
   on the calibration samples, and those within :data:`SCREEN_MARGIN` of the best on all
   :data:`AGREEMENT_SAMPLES` training samples (no labels); ties keep the more conservative candidate;
4. **readout thresholds** (a spiking readout decided by spike counts): the kept candidate with every readout
   threshold raised by each of :data:`READOUT_FACTORS`, scored on all the samples; the best is kept (ties: the
   thresholds as they were), because the chip's readouts fire at most one spike per step.

Every bit-accurate run goes through :class:`Runs`: the compiled kernel's ``summary`` mode (readout records
plus per-neuron spike counts and state peaks, no hidden records) and each distinct configuration simulated
once. The runs and the float model's forward passes are split by sample over an executor (:mod:`toolchain.dist`,
``compile_network(..., executor=...)``, ``spikeline compile --scheduler``); per-sample results concatenated in
sample order are the same on any executor, so the configuration and its report are too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hw_models.config import ChipConfig
from hw_models.errors import SpikelineError
from hw_models.simulator import Record, simulate
from toolchain.compile.compiler import MAX_SHIFT, CompilePlan, _Build, finish, layer_thresholds, prepare
from toolchain.compile.report import CompileReport
from toolchain.dist import Executor, SerialExecutor
from toolchain.dist.shards import map_shards
from toolchain.network import Network

#: States (|Vmem|, |Isyn|) on calibration data must stay below this by default: half the int16 range.
CALIBRATION_LIMIT = 2**14
#: A looser limit, 7/8 of the int16 range: every shift step it saves keeps a bit of threshold resolution (and
#: of a leaky readout's weights), at the risk of saturating on inputs livelier than the calibration samples.
RELAXED_LIMIT = 7 * 2**12
#: Training samples the shift calibration and rate matching run (the first of the train split; never test).
CALIBRATION_SAMPLES = 200
#: Training samples on which the candidates' decisions are compared with the float model's (200 gave ties:
#: 98.0 % both on the demo network, where 1000 separate 95.7 % from 96.9 %). The first
#: :data:`CALIBRATION_SAMPLES` of them are the calibration samples.
AGREEMENT_SAMPLES = 1000
#: Threshold headroom bits the calibrated compile tries, most conservative first (ties keep the first).
HEADROOM_CANDIDATES = (2, 1, 0)


@dataclass
class CalibrationData:
    """Training samples as spike trains and as rasters; the first ``n_calibration`` calibrate, all of them
    score the candidates. The float model's forward passes and decisions are computed once, on first use.

    Every simulation and forward pass is split by sample over ``executor`` (:mod:`toolchain.dist`; default: this
    process) and its shards' results are concatenated in sample order, so the results never depend on it."""

    net: Network
    samples: list
    rasters: np.ndarray
    n_calibration: int
    executor: Executor = field(default_factory=SerialExecutor)
    _runs: list | None = None
    _decisions: np.ndarray | None = None
    _shared: dict = field(default_factory=dict)

    @property
    def calibration_rasters(self) -> np.ndarray:
        return self.rasters[: self.n_calibration]

    def _share(self, name: str):
        """``net``, ``samples`` or ``rasters``, sent to the executor's workers once."""
        if name not in self._shared:
            self._shared[name] = self.executor.share(getattr(self, name))
        return self._shared[name]

    def simulate(self, config: ChipConfig, n: int) -> Record:
        """The bit-accurate ``summary`` record of ``config`` on the first ``n`` samples (shards concatenated)."""
        parts = map_shards(self.executor, _summary_shard, n, self.executor.share(config), self._share("rasters"),
                           chunk=None, per_worker=1)
        return Record({k: np.concatenate([p[k] for p in parts]) for k in parts[0].data})

    def forward(self, first: int, last: int, t_end: float) -> list:
        """The float model's forward passes of samples ``first:last``."""
        parts = map_shards(self.executor, _forward_shard, last - first, self._share("net"), self._share("samples"),
                           (first, t_end), chunk=None, per_worker=1)
        return [run for part in parts for run in part]

    @property
    def float_runs(self) -> list:
        """The float model's forward passes of the calibration samples."""
        if self._runs is None:
            t_end = float(self.net.metadata.get("t_end") or self.rasters.shape[1] * self.net.dt)
            self._runs = self.forward(0, self.n_calibration, t_end)
        return self._runs

    def float_decisions(self) -> np.ndarray:
        """The float model's decision on every sample (``net.metadata["decision"]``)."""
        if self._decisions is None:
            from toolchain.decode import decide

            meta = self.net.metadata
            code = _output_code(self.net)
            runs = self.float_runs + self.forward(self.n_calibration, len(self.samples), meta["t_end"])
            self._decisions = np.array([decide(meta["decision"], r, self.net.layer_sizes[-1], code) for r in runs])
        return self._decisions


def _summary_shard(bounds: tuple[int, int], config: ChipConfig, rasters: np.ndarray) -> Record:
    return simulate(config, rasters[bounds[0]:bounds[1]], record="summary", validate=False)


def _forward_shard(bounds: tuple[int, int], net: Network, samples: list, static: tuple[int, float]) -> list:
    from toolchain.lif.forward import forward

    first, t_end = static
    return [forward(net, s, t_end) for s in samples[first + bounds[0]:first + bounds[1]]]


def _output_code(net: Network) -> np.ndarray | None:
    code = net.metadata.get("output_code")
    return None if code is None else np.asarray(code, np.float64)


def calibration_data(net: Network, dt: float | None = None, samples: list | None = None,
                     executor: Executor | None = None) -> CalibrationData | None:
    """The first :data:`AGREEMENT_SAMPLES` training samples of the network's task (``None`` when it names no
    task), or ``samples``: your own spike trains ``(times, channels)`` (then all of them calibrate); their
    simulations run on ``executor`` (default: this process)."""
    from toolchain.data.inputs import network_inputs, trial_rasters

    executor = executor or SerialExecutor()
    dt = dt or net.dt
    if samples is not None:
        t_end = net.metadata.get("t_end")
        if t_end is None:
            from hw_models.errors import InputError

            raise InputError("calibration samples need the trial length: set net.metadata['t_end'] (seconds)")
        samples = list(samples)
        return CalibrationData(net, samples, trial_rasters(samples, dt, net.layer_sizes[0], t_end), len(samples),
                               executor)
    if not net.metadata.get("task") or net.metadata.get("t_end") is None:
        return None
    train, _, rasters = network_inputs(net, "train", AGREEMENT_SAMPLES, dt=dt)
    return CalibrationData(net, train, rasters, min(CALIBRATION_SAMPLES, len(train)), executor)


def config_key(config: ChipConfig) -> str:
    """A digest of everything the chip runs (not the provenance): equal configurations, equal keys."""
    h = hashlib.sha1(f"{config.chip}|{config.dt!r}|{config.weight_shift_in}|{config.weight_shift_rec}|"
                     f"{config.weight_shift_out}|{config.aliases}".encode())
    for name, value in config.__dict__.items():
        if isinstance(value, np.ndarray):
            h.update(name.encode())
            h.update(np.ascontiguousarray(value, np.int64).tobytes())
    return h.hexdigest()


@dataclass
class Runs:
    """Bit-accurate ``summary`` runs of configurations on the calibration data, each distinct one once.

    ``calls`` counts the simulations actually run, ``hits`` the ones answered from memory."""

    data: CalibrationData
    calls: int = 0
    hits: int = 0
    _memo: dict = field(default_factory=dict)

    def summary(self, config: ChipConfig, everything: bool = False) -> Record:
        """Summary record on the calibration samples, or on all samples (``everything``). A run on all
        samples also answers later calls for the calibration samples (their first rows)."""
        key = config_key(config)
        if key in self._memo and (not everything or self._memo[key][1]):
            self.hits += 1
            rec, whole = self._memo[key]
            return rec if everything or not whole else _head(rec, self.data.n_calibration)
        rec = self.data.simulate(config, len(self.data.rasters) if everything else self.data.n_calibration)
        self.calls += 1
        self._memo[key] = (rec, everything)
        return rec


def _head(rec: Record, n: int) -> Record:
    return Record({k: v[:n] for k, v in rec.data.items()})


# -- step 1: shifts off the rails ---------------------------------------------------------------------------
def hot_layers(build: _Build, net: Network, rec: Record, state_limit: int = CALIBRATION_LIMIT) -> list[int]:
    """Post layers (1..L) whose largest integer state ``|Vmem|, |Isyn|, |Isyn2|`` passes ``state_limit``."""
    hot = []
    peaks = np.maximum(np.maximum(rec["Vmem_peak"], rec["Isyn_peak"]), rec["Isyn2_peak"]).max(axis=0)
    for block in build.layout.blocks:
        if int(peaks[block.start:block.start + block.size].max(initial=0)) > state_limit:
            hot.append(block.layer)
    peak_out = max(int(np.abs(rec[k].astype(np.int64)).max(initial=0)) for k in ("Vmem_out", "Isyn_out"))
    if peak_out > state_limit:
        hot.append(net.n_layers)
    return hot


def calibrate_shifts(plan: CompilePlan, build: _Build, runs: Runs, state_limit: int = CALIBRATION_LIMIT
                     ) -> tuple[_Build, list[str]]:
    """Lower the shift of every layer whose states pass ``state_limit`` on the calibration samples until none
    does."""
    net = plan.net
    notes, lowered = [], set()
    for _ in range(3 * (MAX_SHIFT + 1)):
        hot = hot_layers(build, net, runs.summary(build.config), state_limit)
        if not hot:
            if lowered:
                notes.append(f"calibration lowered the shifts to in {build.shifts['in']}, rec {build.shifts['rec']}, "
                             f"out {build.shifts['out']}" + (f" and attenuated the leaky readout {build.attenuation}x"
                                                             if build.attenuation > 1 else "")
                             + f": the states of layers {sorted(lowered)} passed {state_limit} on the calibration "
                             "samples")
            return build, notes
        shifts, attenuation = dict(build.shifts), build.attenuation
        for layer in hot:
            key = "in" if layer == 1 else ("out" if layer == net.n_layers else "rec")
            if shifts[key] > 0:
                shifts[key] -= 1
            elif layer == net.n_layers and net.readout == "leaky-integrator" and attenuation < 2**7:
                attenuation *= 2
            else:
                notes.append(f"layer {layer}: states exceed {state_limit} on the calibration data even "
                             f"with shift_{key} 0; expect saturation (smaller weights or thresholds help)")
                return build, notes
        lowered.update(hot)
        build = plan.build(shifts, build.gain_correction, build.threshold_scales, attenuation)
    return build, notes


# -- step 2: rate matching --------------------------------------------------------------------------------
def spiking_ids(build: _Build, net: Network) -> list[tuple[int, np.ndarray | None]]:
    """(layer, hidden ids) of each spiking layer; ``None`` ids for a spiking readout."""
    out = [(b.layer, b.ids) for b in build.layout.blocks]
    if net.readout == "spiking":
        out.append((net.n_layers, None))
    return out


#: Rate matching searches threshold factors in this interval (and never past the int16 threshold limit).
FACTOR_RANGE = (0.8, 1.25)


def match_rates(plan: CompilePlan, build: _Build, runs: Runs) -> dict[int, float]:
    """Factors for each spiking layer's integer thresholds so that, on the calibration samples, the chip
    fires as many spikes as the float model; layers in order, each with the earlier ones already scaled.

    The spike count ``n(f)`` falls with the factor ``f``; ``f`` is found by :func:`solve_factor` on the
    integer threshold grid: a factor that rounds to the same integer thresholds as one already tried costs
    nothing (:class:`Runs`), and the search stops once the bracket holds no other integer thresholds. Integer
    rounding makes the chip's excitability differ from the float model's by a few percent (floor decay keeps
    excitation slightly longer and inhibition slightly shorter); networks trained near their thresholds are
    sensitive to exactly that.
    """
    net = plan.net
    config = build.config.copy()
    factors: dict[int, float] = {}
    for layer, ids in spiking_ids(build, net):
        target = sum(int(r.layers[layer - 1].times.size) for r in runs.data.float_runs)
        prior = build.threshold_scales.get(layer, 1.0)

        def thresholds(f: float, layer=layer, prior=prior) -> np.ndarray:  # exactly what plan.build will make
            return layer_thresholds(net, plan.dashes, plan.dt, build.units, build.gain_correction, layer, prior * f)

        def count(f: float, ids=ids) -> int:
            th = thresholds(f)
            if ids is None:
                config.threshold_out = th
            else:
                config.threshold[ids] = th
            rec = runs.summary(config)
            return int(rec["Spikes_out"].sum(dtype=np.int64) if ids is None else
                       rec["Spikes_count"][:, ids].sum(dtype=np.int64))

        base = thresholds(1.0)
        hi = min(FACTOR_RANGE[1], 32767 / max(int(base.max()), 1))
        f = 1.0 if target == 0 else solve_factor(count, target, FACTOR_RANGE[0], hi,
                                                 lambda a, b: np.array_equal(thresholds(a), thresholds(b)))
        count(f)
        factors[layer] = f
    return factors


def solve_factor(count: Callable[[float], int], target: int, lo: float, hi: float,
                 same: Callable[[float, float], bool], max_steps: int = 16) -> float:
    """The factor ``f`` in ``[lo, hi]`` whose spike count ``count(f)`` (falling with ``f``) is nearest to
    ``target`` (ties: nearest to 1). False position with the Illinois modification on ``g(f) = count(f) -
    target``, bracketed from ``f = 1``; it stops when ``count(f) == target`` or when the bracket ends give the
    same integer thresholds (``same``): nothing between them can count differently.
    """
    tried = {1.0: count(1.0)}
    if tried[1.0] != target:
        a, b = (1.0, hi) if tried[1.0] > target else (lo, 1.0)
        ga, gb = count(a) - target, count(b) - target
        tried.update({a: ga + target, b: gb + target})
        side = 0
        for _ in range(max_steps if ga > 0 > gb else 0):  # a root is bracketed: g(a) > 0 > g(b)
            if same(a, b):
                break
            m = b - gb * (b - a) / (gb - ga)
            m = min(max(m, a + 0.02 * (b - a)), b - 0.02 * (b - a))  # keep the bracket shrinking
            gm = count(m) - target
            tried[m] = gm + target
            if gm == 0:
                break
            if gm > 0:
                a, ga = m, gm
                gb, side = (gb / 2 if side == 1 else gb), 1
            else:
                b, gb = m, gm
                ga, side = (ga / 2 if side == -1 else ga), -1
    return min(tried, key=lambda x: (abs(tried[x] - target), abs(x - 1.0)))


def calibrate_candidate(plan: CompilePlan, build: _Build, runs: Runs, match: bool,
                        state_limit: int = CALIBRATION_LIMIT) -> tuple[_Build, list[str]]:
    """Shifts off the rails, then (``match``) rate matching; repeated until neither changes."""
    build, notes = calibrate_shifts(plan, build, runs, state_limit)
    if not match:
        return build, notes
    for _ in range(4):
        relative = match_rates(plan, build, runs)
        scales = {k: build.threshold_scales.get(k, 1.0) * f for k, f in relative.items()}
        build = plan.build(build.shifts, build.gain_correction, scales, build.attenuation)
        shifts_before = dict(build.shifts)
        build, more = calibrate_shifts(plan, build, runs, state_limit)
        notes += [n for n in more if n not in notes]
        if build.shifts == shifts_before and all(abs(f - 1.0) < 1e-3 for f in relative.values()):
            break
    factors = ", ".join(f"{f:.4f} (layer {k})" for k, f in build.threshold_scales.items())
    notes.append(f"rate matching scaled the integer thresholds by {factors} so the chip fires as often as the "
                 "float model on the calibration samples")
    return build, notes


# -- step 3: the choice ------------------------------------------------------------------------------------
#: Readout threshold factors tried on the chosen candidate when a spiking readout is decided by its spike
#: counts. A chip readout fires at most ``max_output_spikes`` per step (Xylo: 1): where the float readouts
#: burst, the chip's counts saturate near one per step and tie. Raising every readout threshold by one factor
#: scales all their counts down together, under the cap, and keeps their order (docs/compiler.md).
READOUT_FACTORS = (1.5, 2.0, 3.0)


def readout_candidates(plan: CompilePlan, build: _Build, net: Network) -> list[tuple[float, _Build]]:
    """``build`` with the readout's integer thresholds raised by each of :data:`READOUT_FACTORS` (on top of any
    rate matching), those that still fit the chip (int16 thresholds)."""
    out = []
    for factor in READOUT_FACTORS:
        scales = {**build.threshold_scales, net.n_layers: build.threshold_scales.get(net.n_layers, 1.0) * factor}
        raised = plan.build(build.shifts, build.gain_correction, scales, build.attenuation)
        if plan.fits(raised):
            out.append((factor, raised))
    return out


def add_readout_candidates(plan: CompilePlan, net: Network, runs: Runs, candidates: dict, names: list[str],
                           scores: dict[str, float], best: str) -> str:
    """Step 4: the kept candidate ``best`` with raised readout thresholds (:func:`readout_candidates`), added to
    ``candidates``, ``names`` and ``scores`` (agreement on all samples); returns the name of the best now (ties:
    the earlier, so the thresholds as they were)."""
    build, headroom, notes, settings = candidates[best]
    for factor, raised in readout_candidates(plan, build, net):
        if any(raised.config == other[0].config for other in candidates.values()):
            continue
        name = f"{best}, readout thresholds x{factor:g}"
        note = (f"calibration raised the readout thresholds {factor:g}x: the chip's readouts fire at most "
                f"{plan.spec.max_output_spikes} spike(s) per step, so where the float model's readouts burst their "
                "counts saturate and tie; raised, they stay below the cap")
        candidates[name] = (raised, headroom, [*notes, note], {**settings, "readout_factor": factor})
        names.append(name)
        scores[name] = agreement(runs, raised.config)
    return max(scores, key=lambda n: (scores[n], -names.index(n)))


def candidate_name(headroom: int, state_limit: int, match: bool, gain: bool = False) -> str:
    return (f"headroom {headroom}, states below {'7/8' if state_limit != CALIBRATION_LIMIT else '1/2'}"
            + (", rate matching" if match else "") + (", kernel gain correction" if gain else ""))


#: Candidates whose agreement on the calibration samples trails the best by more than this are not scored on
#: the other samples (a 200-sample difference of 5 pp is about 3.5 standard errors of a paired difference).
SCREEN_MARGIN = 0.05


def agreement(runs: Runs, config: ChipConfig, everything: bool = True) -> float:
    """Fraction of the samples (all, or the calibration samples) on which the configuration's bit-accurate
    decision equals the float model's."""
    from toolchain.verify import chip_decode

    rec = runs.summary(config, everything=everything)
    chip = chip_decode.decide(rec, runs.data.net.metadata["decision"], _output_code(runs.data.net))
    reference = runs.data.float_decisions()
    return float(np.mean(chip == reference[: len(chip)]))


Tick = Callable[[str], None]


def search(net: Network, chip: str, dt: float | None, data: CalibrationData, runs: Runs,
           headroom_bits: int | None = None, gain_correction: bool | None = None, source: str | None = None,
           tick: Tick | None = None) -> tuple[ChipConfig, CompileReport]:
    """Build every candidate, calibrate it, keep the one whose decisions agree best with the float model's.

    ``headroom_bits`` / ``gain_correction`` fix that choice instead of trying it. Without a decision rule in
    the network's metadata only the first candidate is built (headroom 2, half range, thresholds as they are).
    ``tick(description)`` is called once per candidate (a progress bar).
    """
    tick = tick or (lambda _: None)
    plan = prepare(net, chip, dt, source)
    headrooms = HEADROOM_CANDIDATES if headroom_bits is None else (headroom_bits,)
    # (rate matching, gain correction): the thresholds as they are first, then the two ways to correct them
    modes = ([(False, False), (True, False), (False, True)] if gain_correction is None
             else [(False, gain_correction), (True, gain_correction)])
    decide = net.metadata.get("decision") is not None
    limits = (CALIBRATION_LIMIT, RELAXED_LIMIT) if decide else (CALIBRATION_LIMIT,)
    if not decide:
        headrooms, modes = headrooms[:1], modes[:1]
    candidates: dict[str, tuple[_Build, int, list[str], dict]] = {}
    first_error: SpikelineError | None = None
    for headroom in headrooms:
        for limit in limits:
            for match, gain in modes:
                name = candidate_name(headroom, limit, match, gain)
                tick(name)
                start = plan.first_build(headroom, gain)
                if not plan.fits(start):  # does not fit at all: finish() names every problem
                    try:
                        finish(plan, start, headroom, False, source=source)
                    except SpikelineError as exc:
                        first_error = first_error or exc
                    continue
                build, notes = calibrate_candidate(plan, start, runs, match, limit)
                if any(build.config == other[0].config for other in candidates.values()):
                    continue  # e.g. no state near either limit: the relaxed candidate is the same
                settings = {"headroom_bits": headroom, "state_limit": limit, "rate_matching": match,
                            "gain_correction": gain, "readout_factor": 1.0}
                candidates[name] = (build, headroom, notes, settings)
    if not candidates:
        raise first_error  # type: ignore[misc]
    if not decide:
        name, (build, headroom, notes, settings) = next(iter(candidates.items()))
        config, report = finish(plan, build, headroom, True, notes, source)
        report.candidates = [{"name": name, **settings, "agreement": None, "samples": 0, "kept": True}]
        return config, report
    tick("agreement with the float model")
    names = list(candidates)
    screen = {n: agreement(runs, candidates[n][0].config, everything=False) for n in names}
    finalists = [n for n in names if screen[n] >= max(screen.values()) - SCREEN_MARGIN]
    scores = {n: agreement(runs, candidates[n][0].config) for n in finalists}
    best = max(finalists, key=lambda n: (scores[n], -names.index(n)))
    if net.readout == "spiking" and net.metadata["decision"] == "spike-count":
        tick("readout thresholds")
        best = add_readout_candidates(plan, net, runs, candidates, names, scores, best)
    build, headroom, notes, settings = candidates[best]
    config, report = finish(plan, build, headroom, True, notes, source)
    report.candidates = [{"name": n, **candidates[n][3], "agreement": scores[n] if n in scores else screen[n],
                          "samples": len(data.samples) if n in scores else data.n_calibration, "kept": n == best}
                         for n in names]
    return config, report
