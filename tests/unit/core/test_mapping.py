"""Dynamic task mapping's arithmetic (core.mapping), against Airflow's documented examples."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.mapping import (
    LengthSpec,
    NoValueToMap,
    UnmappableLength,
    UnmappableValue,
    concat_length,
    cross_product_length,
    cross_product_positions,
    expansion_length,
    item_at,
    kwargs_list_length,
    mapped_length,
    output_length,
    zip_length,
)


def test_lists_tuples_and_dicts_are_mappable_other_values_fail_the_pusher() -> None:
    assert mapped_length([1, 2, 3]) == 3
    assert mapped_length((1,)) == 1
    assert mapped_length({"a": 1, "b": 2}) == 2
    assert mapped_length([]) == 0  # the mapped task is then skipped
    with pytest.raises(UnmappableValue, match="unmappable return type 'str'"):
        mapped_length("abc")
    with pytest.raises(UnmappableValue, match="unmappable return type 'int'"):
        mapped_length(3)
    with pytest.raises(UnmappableValue, match="unmappable return value length: 1025 > 1024"):
        mapped_length(list(range(1025)))
    assert mapped_length(list(range(5)), max_length=5) == 5


def test_the_cross_product_varies_the_last_argument_fastest() -> None:
    """Airflow's docs: expand(x=[1, 2], y=["a", "b", "c"]) makes six tasks."""
    lengths = {"x": 2, "y": 3}
    assert cross_product_length(lengths) == 6
    pairs = [cross_product_positions(i, lengths) for i in range(6)]
    assert pairs == [
        {"x": 0, "y": 0},
        {"x": 0, "y": 1},
        {"x": 0, "y": 2},
        {"x": 1, "y": 0},
        {"x": 1, "y": 1},
        {"x": 1, "y": 2},
    ]
    with pytest.raises(IndexError):
        cross_product_positions(6, lengths)
    assert cross_product_length({"x": 2, "y": 0}) == 0


@given(st.dictionaries(st.sampled_from("abcd"), st.integers(1, 4), min_size=1))
def test_positions_follow_itertools_product(lengths: dict[str, int]) -> None:
    expected = list(itertools.product(*(range(n) for n in lengths.values())))
    found = [
        tuple(cross_product_positions(i, lengths).values())
        for i in range(cross_product_length(lengths))
    ]
    assert found == expected


def test_a_dict_maps_over_its_items() -> None:
    value = {"a": 1, "b": 2}
    assert [item_at(value, i) for i in range(2)] == [("a", 1), ("b", 2)]
    assert item_at([10, 20], 1) == 20


def test_zip_and_concat_lengths() -> None:
    assert zip_length([3, 2, 5], filled=False) == 2
    assert zip_length([3, 2, 5], filled=True) == 5
    assert zip_length([], filled=False) == 0
    assert concat_length([3, 2]) == 5


def test_expand_kwargs_needs_a_list_of_dicts() -> None:
    assert kwargs_list_length([{"a": 1}, {"a": 2}]) == 2
    with pytest.raises(UnmappableValue, match=r"expects a list\[dict\], not dict"):
        kwargs_list_length({"a": 1})
    with pytest.raises(UnmappableValue, match="a list with other items"):
        kwargs_list_length([{"a": 1}, 2])


def test_expansion_lengths_follow_their_sources() -> None:
    upstream = LengthSpec("upstream", task_id="make")
    three = LengthSpec("literal", value=3)
    assert expansion_length(three, {}) == 3
    assert expansion_length(upstream, {"make": 4}) == 4
    assert expansion_length(upstream, {}) is None
    product = LengthSpec("product", parts=(three, upstream))
    assert expansion_length(product, {"make": 2}) == 6
    assert expansion_length(product, {"make": None}) is None
    assert expansion_length(LengthSpec("zip", parts=(three, upstream)), {"make": 5}) == 3
    assert expansion_length(LengthSpec("zip_longest", parts=(three, upstream)), {"make": 5}) == 5
    assert expansion_length(LengthSpec("concat", parts=(three, upstream)), {"make": 5}) == 8
    assert product.upstream_tasks() == frozenset({"make"})


def test_what_a_finished_instance_gives_the_tasks_mapped_over_it() -> None:
    assert output_length([1, 2], pushed=True, mapped_instance=False) == 2
    assert output_length({"a": 1}, pushed=True, mapped_instance=False) == 1
    assert output_length("x", pushed=True, mapped_instance=True) == 1
    assert output_length(None, pushed=False, mapped_instance=True) == 0
    with pytest.raises(NoValueToMap, match="did not push a return value"):
        output_length(None, pushed=False, mapped_instance=False)
    with pytest.raises(UnmappableLength) as raised:
        output_length([0] * 3, pushed=True, mapped_instance=False, max_length=2)
    assert raised.value.airflow_name == "UnmappableXComLengthPushed"
