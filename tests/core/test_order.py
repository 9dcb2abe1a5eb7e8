"""``Order``: the conversation order, a linked list of item ids in persistent maps.

``Order.insert`` and ``Order.without`` are checked against a plain Python list doing
the same edits: the same ids in the same order, and the links, head, tail and size
that say so. Old orders never change.
"""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from rtstate.state import Order


def _check(order: Order, expected: list[str]) -> None:
    """``order`` holds ``expected``, in order, and its links agree both ways."""
    assert list(order) == expected
    assert len(order) == order.size == len(expected)
    assert order.head == (expected[0] if expected else None)
    assert order.tail == (expected[-1] if expected else None)
    assert dict(order.next) == dict(pairwise(expected))
    assert dict(order.prev) == {b: a for a, b in pairwise(expected)}
    for item_id in expected:
        assert item_id in order
    assert "never" not in order
    assert None not in order


def test_an_empty_order() -> None:
    _check(Order(), [])


def test_insert_at_the_head_in_the_middle_and_at_the_tail() -> None:
    order = Order().insert("b", None)
    order = order.insert("a", None)  # a new head
    order = order.insert("d", "b")  # after the tail: the new tail
    order = order.insert("c", "b")  # in the middle
    _check(order, ["a", "b", "c", "d"])


def test_without_the_head_the_middle_the_tail_and_the_last() -> None:
    order = Order().insert("a", None).insert("b", "a").insert("c", "b").insert("d", "c")
    _check(order.without("a"), ["b", "c", "d"])
    _check(order.without("c"), ["a", "b", "d"])
    _check(order.without("d"), ["a", "b", "c"])
    _check(Order().insert("a", None).without("a"), [])


# An edit: ("insert", position among the present ids + 1, 0 = at the head) or
# ("delete", index of a present id); positions wrap around what is there.
_EDITS = st.lists(
    st.tuples(st.sampled_from(["insert", "delete"]), st.integers(min_value=0, max_value=50)),
    max_size=40,
)


@settings(max_examples=200)
@given(_EDITS)
def test_edits_agree_with_a_plain_list(edits: list[tuple[str, int]]) -> None:
    order = Order()
    expected: list[str] = []
    history: list[tuple[Order, list[str]]] = []
    for n, (kind, at) in enumerate(edits):
        if kind == "insert":
            position = at % (len(expected) + 1)
            previous = expected[position - 1] if position else None
            item_id = f"item_{n}"
            order = order.insert(item_id, previous)
            expected.insert(position, item_id)
        elif expected:
            item_id = expected.pop(at % len(expected))
            order = order.without(item_id)
        _check(order, expected)
        history.append((order, list(expected)))
    for old, then in history:  # every older order still holds what it held
        _check(old, then)
