"""The append-only logs of ``rtstate.logs``.

``TextLog`` and ``AudioWindow`` are persistent values over a shared, growing list: an
append at the tip must not copy, an append anywhere else must copy, and no append may
ever change what an older value shows. Each is checked against a naive reference
(immutable ``str`` / ``list`` values) over random *trees* of appends, so non-tip
appends are exercised as much as tip ones.
"""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from rtstate.logs import EMPTY_AUDIO, EMPTY_TEXT, AudioChunk, AudioWindow, TextLog, _Chunks

# --- TextLog -----------------------------------------------------------------------------


def test_tip_appends_share_one_list() -> None:
    log = TextLog.of("a")
    shared = log._chunks
    logs = [log]
    for i in range(200):
        logs.append(logs[-1].append(str(i)))
    # no copy at the tip: every value is a view of the same list
    assert all(v._chunks is shared for v in logs)
    assert len(shared) == 201  # one entry per append, nothing more
    assert [v.chunk_count for v in logs] == list(range(1, 202))
    assert logs[-1].value == "a" + "".join(str(i) for i in range(200))
    # older values still see only their own prefix
    assert logs[0].value == "a"
    assert logs[3].value == "a012"


def test_append_to_old_snapshot_copies_and_disturbs_nobody() -> None:
    a = TextLog.of("x")
    b = a.append("y")
    c = b.append("z")
    d = b.append("w")  # b is no longer the tip: must copy
    assert d._chunks is not b._chunks
    assert (a.value, b.value, c.value, d.value) == ("x", "xy", "xyz", "xyw")
    e = d.append("!")  # d is the tip of its own (copied) list: no further copy
    assert e._chunks is d._chunks
    f = c.append("?")  # c is still the tip of the original list
    assert f._chunks is c._chunks
    assert (a.value, b.value, c.value, d.value, e.value, f.value) == (
        "x",
        "xy",
        "xyz",
        "xyw",
        "xyw!",
        "xyz?",
    )


def test_empty_log_is_never_mutated() -> None:
    # EMPTY_TEXT is one module-wide value that starts every text part of every
    # connection. Appending to it must not grow its list: otherwise it pins the first
    # log's chunks forever, and two threads appending to it at once could see each
    # other's text.
    first = EMPTY_TEXT.append("hello")
    second = EMPTY_TEXT.append("bye")
    assert EMPTY_TEXT._chunks == []
    assert EMPTY_TEXT.value == ""
    assert EMPTY_TEXT.chunk_count == 0
    assert first._chunks is not EMPTY_TEXT._chunks
    assert (first.value, second.value) == ("hello", "bye")
    assert TextLog.of("") is EMPTY_TEXT


def test_text_log_equality_is_by_value() -> None:
    built = TextLog.of("ab").append("c")
    assert built == TextLog.of("a").append("b").append("c") == TextLog.of("abc")
    assert hash(built) == hash(TextLog.of("abc"))
    assert built != TextLog.of("ab")
    assert str(built) == built.value == "abc"
    assert TextLog.of("ab").chunk_count == 1
    assert built.__eq__("abc") is NotImplemented


def test_the_joined_text_is_remembered_and_invisible() -> None:
    log = TextLog.of("a").append("b").append("c")
    first = log.value
    assert log.value is first  # joined once per value
    assert log == TextLog.of("abc") and repr(log) == repr(TextLog.of("a").append("b").append("c"))
    longer = log.append("d")  # a later value joins its own text
    assert (log.value, longer.value) == ("abc", "abcd")


def test_an_append_off_the_tip_copies_what_init_would() -> None:
    log = TextLog.of("a").append("b").compacted().append("c")
    log.append("d")  # the tip moves on
    off = log.append("e")  # not the tip: its own list
    chunks = off._chunks
    assert type(chunks) is _Chunks and chunks is not log._chunks and chunks.memo is None
    assert (list(chunks), chunks.merged, off.value, off.chunk_count) == (
        ["ab", "c", "e"],
        1,
        "abce",
        4,
    )
    assert chunks.memo == (3, "abce")  # joined once, by ``value`` above


def test_compacted_holds_one_chunk_with_the_same_text_and_count() -> None:
    logs = [TextLog.of("a")]
    for delta in "bcde":
        logs.append(logs[-1].append(delta))
    tip = logs[-1]
    compact = tip.compacted()
    assert compact._chunks == ["abcde"] and compact._chunks is not tip._chunks
    # built without ``_Chunks.__init__``: what it would have built
    assert type(compact._chunks) is _Chunks
    assert (compact._chunks.merged, compact._chunks.memo) == (4, None)
    assert (compact.value, compact.chunk_count) == ("abcde", 5)
    assert compact == tip and hash(compact) == hash(tip)
    assert [v.value for v in logs] == ["a", "ab", "abc", "abcd", "abcde"]  # views unchanged
    grown = compact.append("f")
    assert (grown.value, grown.chunk_count) == ("abcdef", 6)
    assert grown.compacted().chunk_count == 6
    one = TextLog.of("x")
    assert one.compacted() is one and EMPTY_TEXT.compacted() is EMPTY_TEXT


def _append_tree() -> st.SearchStrategy[list[tuple[int, str]]]:
    """A list of ``(parent, delta)``: append ``delta`` to value number ``parent``."""
    return st.lists(
        st.tuples(st.integers(min_value=0, max_value=10**6), st.text(max_size=3)),
        max_size=60,
    )


@given(root=st.sampled_from(["", "r", "root"]), ops=_append_tree())
def test_text_log_matches_immutable_strings(root: str, ops: list[tuple[int, str]]) -> None:
    logs = [TextLog.of(root)]
    reference = [root]
    for parent, delta in ops:
        p = parent % len(logs)
        logs.append(logs[p].append(delta))
        reference.append(reference[p] + delta)
        # the value just built and its parent are right at once, not only at the end
        assert logs[-1].value == reference[-1]
        assert logs[p].value == reference[p]
    assert [log.value for log in logs] == reference
    assert [log.compacted().value for log in logs] == reference
    assert [log.chunk_count for log in logs[1:]] == [
        logs[parent % (i + 1)].chunk_count + 1 for i, (parent, _) in enumerate(ops)
    ]
    assert EMPTY_TEXT.value == ""


# --- AudioWindow -------------------------------------------------------------------------


def _chunk(item: str, index: int, raw: bytes, ms: float) -> AudioChunk:
    return AudioChunk(
        item_id=item, content_index=index, audio=base64.b64encode(raw).decode(), ms=ms
    )


def _reference_append(
    window: list[AudioChunk], chunk: AudioChunk, limit: float | None
) -> list[AudioChunk]:
    """The documented rule: add ``chunk``, then drop the oldest while over the limit,
    always keeping the newest chunk."""
    out = [*window, chunk]
    if limit is not None:
        while sum(c.ms for c in out) > limit and len(out) > 1:
            out.pop(0)
    return out


_chunks = st.builds(
    _chunk,
    item=st.sampled_from(["item_a", "item_b", "item_c"]),
    index=st.integers(min_value=0, max_value=1),
    raw=st.binary(max_size=6),
    ms=st.integers(min_value=0, max_value=40).map(float),  # integral: sums stay exact
)


@given(
    limit=st.none() | st.integers(min_value=0, max_value=120).map(float),
    ops=st.lists(st.tuples(st.integers(min_value=0, max_value=10**6), _chunks), max_size=60),
)
def test_audio_window_matches_reference_lists(
    limit: float | None, ops: list[tuple[int, AudioChunk]]
) -> None:
    windows = [EMPTY_AUDIO]
    reference: list[list[AudioChunk]] = [[]]
    for parent, chunk in ops:
        p = parent % len(windows)
        windows.append(windows[p].append(chunk, limit))
        reference.append(_reference_append(reference[p], chunk, limit))
        new = windows[-1]
        assert list(new) == reference[-1]
        assert new.total_ms == sum(c.ms for c in reference[-1])
        if limit is not None:  # within the limit, or just the newest chunk over it
            assert new.total_ms <= limit or len(new) == 1
    # old windows never change, whatever was appended to them or their relatives
    for window, ref in zip(windows, reference, strict=True):
        assert list(window) == ref
        assert len(window) == len(ref)
        assert window.total_ms == sum(c.ms for c in ref)
    assert list(EMPTY_AUDIO) == []
    assert EMPTY_AUDIO._chunks == []


def test_audio_window_limit_keeps_total_within_limit_plus_one_chunk() -> None:
    window = EMPTY_AUDIO
    sizes = [20.0, 35.0, 5.0, 60.0, 10.0, 80.0, 1.0, 1.0, 100.0, 20.0]
    for i, ms in enumerate(sizes):
        window = window.append(_chunk("item", 0, bytes([i]), ms), 50.0)
        assert window.total_ms <= 50.0 + max(sizes)
        assert window.total_ms <= 50.0 or len(window) == 1
        assert list(window)[-1].audio == base64.b64encode(bytes([i])).decode()
    assert [c.ms for c in window] == [20.0]  # 100 ms was evicted by the 20 ms after it


def test_audio_window_compaction_keeps_values_and_bounds_memory() -> None:
    window = EMPTY_AUDIO
    history = []
    for i in range(2000):
        window = window.append(_chunk("item", 0, i.to_bytes(2, "big"), 10.0), 100.0)
        history.append(window)
        # never more than the last 10 chunks, and the shared list stays bounded:
        # compaction drops the evicted prefix once it is both > 64 and over half
        assert len(window) == min(i + 1, 10)
        assert len(window._chunks) <= 2 * 10 + 65
    assert window.total_ms == 100.0
    raw = b"".join(i.to_bytes(2, "big") for i in range(1990, 2000))
    assert window.audio_of("item") == raw
    # windows from before a compaction still show their own chunks
    for i in (0, 5, 63, 64, 200, 1000, 1999):
        expected = [j.to_bytes(2, "big") for j in range(max(0, i - 9), i + 1)]
        assert [base64.b64decode(c.audio) for c in history[i]] == expected
        assert history[i].total_ms == 10.0 * len(expected)


def test_audio_window_without_and_audio_of() -> None:
    window = EMPTY_AUDIO
    chunks = [
        _chunk("a", 0, b"\x01\x02", 1.0),
        _chunk("b", 0, b"\x03", 2.0),
        _chunk("a", 1, b"\x04\x05\x06", 3.0),
        _chunk("a", 0, b"\x07", 4.0),
        _chunk("c", 0, b"", 5.0),
    ]
    for c in chunks:
        window = window.append(c, None)
    assert window.audio_of("a") == b"\x01\x02\x04\x05\x06\x07"
    assert window.audio_of("a", 0) == b"\x01\x02\x07"
    assert window.audio_of("a", 1) == b"\x04\x05\x06"
    assert window.audio_of("b") == b"\x03"
    assert window.audio_of("c") == b""
    assert window.audio_of("missing") == b""

    without_a = window.without("a")
    assert list(without_a) == [chunks[1], chunks[4]]
    assert without_a.total_ms == 7.0
    assert without_a.audio_of("a") == b""
    assert without_a.audio_of("b") == b"\x03"
    # the original is untouched, and the result is a normal window that grows
    assert list(window) == chunks
    assert window.total_ms == 15.0
    grown = without_a.append(chunks[0], None)
    assert list(grown) == [chunks[1], chunks[4], chunks[0]]
    assert list(without_a) == [chunks[1], chunks[4]]
    assert list(window.without("nobody")) == chunks


def test_audio_windows_compare_by_content() -> None:
    # Two folds of the same events must give equal states, audio retention included.
    def build() -> AudioWindow:
        window = EMPTY_AUDIO
        for i in range(5):
            window = window.append(_chunk("a", 0, bytes([i]), 10.0), 30.0)
        return window

    assert build() == build()
    assert build() != build().append(_chunk("a", 0, b"x", 1.0), None)
    assert build() != EMPTY_AUDIO
