"""A reduction whose result does not depend on how the work was split.

A batch of ``n`` per-sample values is summed pairwise over a fixed binary tree on the sample positions
(padded with empty leaves to the next power of two; a node with one empty child passes the other one up
unchanged, so the padding adds nothing, not even a rounding). A shard that is an aligned block of ``2**k``
positions computes a whole subtree, so the sums of any such shards, combined by the same tree, give the
batch's sum bit for bit: one process, two workers or five hundred get the same number.

:class:`PairwiseSum` computes that tree sum as the values arrive, holding one partial sum per tree level
(``log2 n`` values alive instead of ``n``); :func:`tree_sum` is it applied to a list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class PairwiseSum(Generic[T]):
    """The fixed-tree sum of values pushed in position order.

    The stack holds the sums of complete subtrees (sizes strictly decreasing, like the binary digits of the
    count): a pushed leaf merges with every complete sibling on the way up. At the end the partial subtrees
    on the right edge are folded right to left, which is what the padded tree does with its empty leaves.
    ``add(left, right)`` may update ``left`` in place and return it when the pushed values are the caller's
    to spend (the stack owns every left operand it passes).
    """

    def __init__(self, add: Callable[[T, T], T]):
        self._add = add
        self._stack: list[tuple[int, T]] = []  # (number of leaves, subtree sum)

    def push(self, value: T) -> None:
        size = 1
        while self._stack and self._stack[-1][0] == size:
            value = self._add(self._stack.pop()[1], value)
            size *= 2
        self._stack.append((size, value))

    def total(self) -> T:
        if not self._stack:
            raise ValueError("tree_sum of nothing")
        value = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            value = self._add(left, value)
        return value


def tree_sum(values: Iterable[T], add: Callable[[T, T], T]) -> T:
    """Pairwise sum of ``values`` over the fixed tree on their positions (see the module docstring)."""
    acc: PairwiseSum[T] = PairwiseSum(add)
    for value in values:
        acc.push(value)
    return acc.total()


def shard_block(n: int, shards_wanted: int) -> int:
    """The largest power-of-two block size that splits ``n`` positions into at least ``shards_wanted`` shards
    (where ``n`` allows; ``shards_wanted=1``: one block covering the whole padded batch)."""
    block = _pow2(n)
    while block > 1 and -(-n // block) < shards_wanted:
        block //= 2
    return block


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())
