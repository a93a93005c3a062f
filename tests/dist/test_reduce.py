"""The fixed-tree reduction: any split into aligned shards gives the whole batch's sum bit for bit, and the
tree order is not the naive left-to-right order (so the property is not trivially true)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolchain.dist import SchedulerError, parse_scheduler
from toolchain.dist.reduce import PairwiseSum, shard_block, tree_sum


def add(a, b):
    return a + b


def padded_tree(values, add):
    """The tree written out level by level: pad with empty leaves to a power of two, sum neighbours."""
    level = list(values) + [None] * ((1 << (len(values) - 1).bit_length()) - len(values))
    while len(level) > 1:
        level = [a if b is None else b if a is None else add(a, b) for a, b in zip(level[::2], level[1::2])]
    return level[0]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e12, 1e12, allow_nan=False), min_size=1, max_size=70))
def test_the_streaming_sum_is_the_padded_tree(values):
    assert tree_sum(values, add) == padded_tree(values, add)
    assert tree_sum(values, add) == padded_tree(values, lambda a, b: b + a)  # operand order is free, grouping is not


def test_in_place_adds_give_the_same_bits_and_keep_few_values_alive():
    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=(5, 3)) * 10.0 ** rng.integers(-8, 8) for _ in range(37)]
    expected = padded_tree(arrays, np.add)
    acc, alive = PairwiseSum(lambda a, b: np.add(a, b, out=a)), 0
    for a in arrays:
        acc.push(a.copy())
        alive = max(alive, len(acc._stack))
    assert np.array_equal(acc.total(), expected)
    assert alive <= 6  # one partial sum per level: log2(37) + 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e12, 1e12, allow_nan=False), min_size=1, max_size=70), st.integers(1, 80))
def test_aligned_shards_reproduce_the_whole_tree_sum(values, shards_wanted):
    whole = tree_sum(values, add)
    block = shard_block(len(values), shards_wanted)
    assert block & (block - 1) == 0  # a power of two
    parts = [tree_sum(values[a:a + block], add) for a in range(0, len(values), block)]
    assert len(parts) >= min(shards_wanted, len(values)) or block == 1
    assert tree_sum(parts, add) == whole


def test_the_tree_is_not_left_to_right_summation():
    values = [1.0, 1e16, -1e16, 1.0]
    assert tree_sum(values, add) != ((values[0] + values[1]) + values[2]) + values[3]


def test_arrays_reduce_elementwise():
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(3, 4)) for _ in range(9)]
    block = shard_block(9, 4)
    parts = [tree_sum(arrays[a:a + block], add) for a in range(0, 9, block)]
    assert np.array_equal(tree_sum(parts, add), tree_sum(arrays, add))


@pytest.mark.parametrize("value,kind", [(None, ("serial", None)), ("serial", ("serial", None)),
                                        ("local:3", ("local", 3)), ("tcp://10.0.0.1:8786", ("address", "tcp://10.0.0.1:8786"))])
def test_scheduler_names(value, kind):
    assert parse_scheduler(value) == kind


@pytest.mark.parametrize("value,message", [("local:0", "at least 1 worker"), ("local:x", "not understood"),
                                           ("gpu", "not understood"), ("missing.json", "no such scheduler file")])
def test_bad_scheduler_names_are_refused_with_a_hint(value, message):
    with pytest.raises(SchedulerError, match=message):
        parse_scheduler(value)
