"""Exact gradients of the continuous LIF model: FP forward mode (:mod:`.fp`), FP reverse mode
(:mod:`.fp_reverse`), EventProp (:mod:`.eventprop`), central finite differences (:mod:`.finite_diff`), the
batch API :func:`.api.loss_and_grad`, and the batched engine (:mod:`.batched`: a whole minibatch of reverse-mode
FP in compiled code, on threads)."""

from toolchain.grad.api import ENGINES, loss_and_grad

__all__ = ["ENGINES", "loss_and_grad"]
