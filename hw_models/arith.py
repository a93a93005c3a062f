"""The Xylo core v2 integer arithmetic, one neuron and one synaptic event at a time.

These functions are the single definition used by both the readable reference simulator
(:mod:`hw_models.simulator`) and the compiled kernel (:mod:`hw_models.kernel`).
``register_jitable`` leaves them plain Python when called from Python and lets numba compile the
very same source into the kernel. They follow xylosim 0.1.3 ``XyloIAFNeuron.cpp`` line by line;
``docs/chip-arithmetic.md`` lists the places where the chip wraps instead of saturating.
"""

from __future__ import annotations

from numba.extending import register_jitable

INT16_MIN = -32768
INT16_MAX = 32767


@register_jitable
def sat16(x: int) -> int:
    """Saturate to int16: ``clamp(x, -32768, 32767)`` (xylosim ``safe_add``)."""
    if x > INT16_MAX:
        return INT16_MAX
    if x < INT16_MIN:
        return INT16_MIN
    return x


@register_jitable
def wrap16(x: int) -> int:
    """Two's-complement truncation to int16 (C++ conversion to ``int16_t``)."""
    return ((x + 32768) & 0xFFFF) - 32768


@register_jitable
def decay(x: int, dash: int) -> int:
    """Bit-shift decay step: ``x >> dash`` (floor), but at least 1 in magnitude when ``x != 0``."""
    dx = x >> dash
    if dx == 0:
        if x > 0:
            return 1
        if x < 0:
            return -1
    return dx


@register_jitable
def shifted_weight(w: int, shift: int) -> int:
    """The value one event adds: ``int16(w << shift)`` (wraps for large shifts, as on the chip)."""
    return wrap16(w << shift)


@register_jitable
def deliver(i_syn: int, weight: int, count: int) -> int:
    """``count`` events of one weight into one synaptic state, each add saturating.

    Repeated saturating adds of one value are monotone, so they equal one saturating add of
    ``count * weight``.
    """
    return sat16(i_syn + count * weight)


@register_jitable
def neuron_step(v: int, i0: int, i1: int, dash_mem: int, dash_syn0: int, dash_syn1: int,
                has_bias: bool, bias: int, threshold: int, n0: int, cap: int):
    """One time step of one neuron after this step's events were delivered.

    Integrate-then-decay: ``i_k -= decay(i_k)``; ``dv = sat16(int16(-decay(v)) + i0 + i1)``;
    ``dv = sat16(dv + bias)``; ``v = sat16(v + dv)``; then while ``v >= threshold`` and fewer than
    ``cap`` spikes: one spike, ``v = int16(v - threshold)`` (subtractive reset). ``n0`` is the number
    of alias copies this neuron already received this step; they count toward ``cap``.
    Returns ``(v, i0, i1, spikes)``; ``spikes`` includes ``n0``.
    """
    i0 = i0 - decay(i0, dash_syn0)
    i1 = i1 - decay(i1, dash_syn1)
    dv = wrap16(-decay(v, dash_mem))
    dv = sat16(dv + i0 + i1)
    if has_bias:
        dv = sat16(dv + bias)
    v = sat16(v + dv)
    spikes = n0
    while v >= threshold and spikes < cap:
        spikes += 1
        v = wrap16(v - threshold)
    return v, i0, i1, spikes


@register_jitable
def membrane_before_reset(v: int, own_spikes: int, threshold: int) -> int:
    """The membrane of a step before its subtractive reset, from the value after it: ``own_spikes``
    subtractions of ``threshold`` (each wrapping to int16) are undone modulo 2**16, ``wrap16(v + k * threshold)``,
    which is exact because the value before them was an int16. ``own_spikes`` excludes alias copies."""
    return wrap16(v + own_spikes * threshold)
