"""A reduction whose result does not depend on how the work was split.

A batch of ``n`` per-sample values is summed pairwise over a fixed binary tree on the sample positions
(padded with zeros to the next power of two, which adds nothing exactly). A shard that is an aligned
block of ``2**k`` positions computes a whole subtree, so the sums of any such shards, combined by the same
tree, give the batch's sum bit for bit: one process, two workers or five hundred get the same number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def tree_sum(values: Sequence[T], add: Callable[[T, T], T], width: int | None = None) -> T:
    """Pairwise sum of ``values`` laid on ``width`` leaves (a power of two >= len(values); missing leaves are 0).

    ``width`` defaults to the next power of two; pass it when ``values`` are the sums of aligned blocks of a
    larger tree (then ``len(values) * block == width * block`` positions are covered, zeros at the end).
    """
    if not values:
        raise ValueError("tree_sum of nothing")
    level: list[T | None] = list(values) + [None] * ((width or _pow2(len(values))) - len(values))
    while len(level) > 1:
        level = [a if b is None else b if a is None else add(a, b) for a, b in zip(level[::2], level[1::2], strict=True)]
    assert level[0] is not None
    return level[0]


def shard_block(n: int, shards_wanted: int) -> int:
    """The largest power-of-two block size that splits ``n`` positions into at least ``shards_wanted`` shards
    (where ``n`` allows; ``shards_wanted=1``: one block covering the whole padded batch)."""
    block = _pow2(n)
    while block > 1 and -(-n // block) < shards_wanted:
        block //= 2
    return block


def combine_shards(sums: Sequence[T], n: int, block: int, add: Callable[[T, T], T]) -> T:
    """The :func:`tree_sum` of ``n`` values from the sums of their aligned blocks of ``block`` positions, each
    computed as ``tree_sum(block_values, add, width=block)``."""
    return tree_sum(sums, add, width=max(1, _pow2(n) // block))


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())
