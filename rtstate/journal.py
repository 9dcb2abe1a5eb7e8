"""Journals of a ``ClientConnection`` and ``replay``: the same calls, the same Steps.

A journal is JSON Lines, one record per line, written by a tap on the connection
(``ClientConnection.add_tap``; the ``rtstate_plugins.recorder`` plugin writes one).
The first line is a header (``{"config": {...}, "fresh": true, "journal": "rtstate",
"v": 2, ...}``); then, for every call, in order:

* the call: ``{"dir": "in", "frame": ...}`` for a received frame (the text as a JSON
  string; ``"bytes": true`` when it came as UTF-8 bytes, as a socket delivers it;
  ``frame_b64`` only for bytes that are not UTF-8), ``{"dir": "in", "event": ...}``
  for ``receive_event``, or ``{"dir": "local", "call": "send" | "playback" |
  "interrupt" | "tick" | "transport_closed" | "resume", ...}`` with its arguments;
* ``{"dir": "local", "call": "id", "id": ...}`` for each ``event_id`` the id
  factory made during the call (so a journal replays exactly whatever factory made
  them: counters, uuids);
* its result: ``{"dir": "out", "frames": [...]}`` (the call's ``to_send``, with the
  transitions' and diagnostics' names), or ``{"dir": "local", "call": "raised",
  "error": ..., "message": ...}``.

Every record holds ``t`` (the recorder's monotonic clock, informational) and ``h``,
a hash chained over all lines before it and over this record's canonical form (its
JSON without ``h``, keys sorted, no spaces, ASCII): an edited, dropped or reordered
line is found, while a line re-serialized with other spacing, key order or escapes
still verifies. Lines are parsed as JSON, never matched as text.

A journal survives a crash of its writer: a last line cut mid-write, or a last call
without its recorded result, is reported (``Replay.truncated``) and everything before
it replays. A line that does not parse anywhere else is an error.

``replay(lines)`` checks the chain, feeds the calls to a fresh ``ClientConnection``
with the recorded config and ids, yields each call's Step, and checks it against the
recorded result. It reads version 1 journals too (frames of bytes as base64, the
hash over the record's bytes as written: spacing may change, key order may not).

Pure: the caller reads the file (``replay(open(path))`` works: lines are strings).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, TypeVar

import attrs

from .codec import Codec, codec_for
from .config import Config, Dialect
from .connection import ClientConnection
from .errors import RemoteProtocolError, RtStateError
from .events.client import ClientEvent
from .events.server import ServerEvent, UnknownServerEvent
from .reconnect import ReconnectPlan
from .state import SessionState
from .step import Step

__all__ = [
    "CALLS",
    "JOURNAL_VERSION",
    "JournalError",
    "JournalWriter",
    "Replay",
    "Truncation",
    "is_journal",
    "journal_dialect",
    "replay",
    "replay_lines",
]

JOURNAL_VERSION: Final = 2
"""The journal format this module writes (it reads this one and version 1)."""

CALLS: Final = frozenset(
    {
        "receive",
        "receive_event",
        "send",
        "playback",
        "interrupt",
        "tick",
        "transport_closed",
        "resume",
    }
)
"""The ``ClientConnection`` calls a journal records (the tap verbs that start a call)."""

_SEED: Final = "rtstate-journal"
_DIGEST: Final = re.compile(r"[0-9a-f]{16}")


class JournalError(RtStateError):
    """A journal cannot be replayed: malformed, edited, or its Steps differ.

    ``line`` is the 1-based line number concerned (``None``: the journal as a whole);
    ``reason`` is the message without its ``"line N: "`` prefix.
    """

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line
        self.reason = message


@attrs.frozen
class Truncation:
    """Where a journal ends cut, as a crash of its writer leaves it.

    Everything before ``line`` replayed (and was checked); from ``line`` on, nothing
    did: the last line was cut mid-record, or the last call has no recorded result.
    ``reason`` says which, in a sentence.
    """

    line: int
    """The first line not replayed (1-based)."""
    reason: str
    """What was cut."""

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def _chain(previous: str, body: str) -> str:
    return hashlib.blake2b(f"{previous}\n{body}".encode(), digest_size=8).hexdigest()


def _canonical(record: Mapping[str, Any]) -> str:
    """A record's canonical form, the text its hash covers (version 2): compact JSON,
    keys sorted, ASCII. A record written by ``JournalWriter`` is this text plus ``h``."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=True, sort_keys=True)


def _canonical_v1(record: Mapping[str, Any]) -> str:
    """A version 1 record's hashed text: compact JSON, ASCII, in the order written
    (parsing keeps the order, and re-encoding gives the writer's exact text back)."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=True)


_CANONICAL: Final[Mapping[object, Callable[[Mapping[str, Any]], str]]] = {
    1: _canonical_v1,
    JOURNAL_VERSION: _canonical,
}
"""The versions this module reads -> the text each hashes a record as."""


def _step_summary(step: Step) -> dict[str, Any]:
    """What a journal records of a Step."""
    return {
        "frames": list(step.to_send),
        "transitions": [type(t).__name__ for t in step.transitions],
        "diagnostics": [d.code for d in step.diagnostics],
        "revision": step.after.revision,
    }


def _config_record(config: Config) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in attrs.fields(Config):
        value = getattr(config, field.name)
        out[field.name] = value.value if isinstance(value, enum.Enum) else value
    return out


def _config_from(record: object, line: int) -> Config:
    if not isinstance(record, dict):
        raise JournalError("the header's config is not an object", line=line)
    args: dict[str, Any] = {}
    for field in attrs.fields(Config):
        if field.name not in record:
            continue
        value = record[field.name]
        default: object = field.default
        if isinstance(default, enum.Enum):
            value = type(default)(value)
        args[field.name] = value
    args.setdefault("dialect", "beta")  # recorded before GA was the default (journal_dialect)
    try:
        return Config(**args)
    except (TypeError, ValueError) as exc:
        raise JournalError(f"the header's config is not valid: {exc}", line=line) from None


class JournalWriter:
    """Turns tap calls into journal lines (what a recorder writes).

    ``header(config, state, t)`` gives the first line; ``record(verb, value, t)`` the
    line for one tap call, or ``None`` when the call cannot be journaled (a ``send``
    of something that is not an encodable client event, a ``resume`` without a plan:
    such calls change nothing, so they, their ids and their result are left out).
    Each line is text without the newline.
    """

    def __init__(self) -> None:
        self._last = _SEED
        self._skipping = False
        self._codec: Codec = codec_for("beta")

    def _line(self, record: Mapping[str, Any]) -> str:
        body = _canonical(record)
        digest = _chain(self._last, body)
        self._last = digest
        return f'{body[:-1]},"h":"{digest}"}}'

    def header(self, config: Config, state: SessionState, t: float) -> str:
        """The header line: the format, the config, whether the state was fresh."""
        self._codec = codec_for(config.dialect)
        return self._line(
            {
                "journal": "rtstate",
                "v": JOURNAL_VERSION,
                "t": t,
                "config": _config_record(config),
                "fresh": state == SessionState(),
            }
        )

    def record(self, verb: str, value: object, t: float) -> str | None:
        """The line for one tap call (see ``ClientConnection.add_tap``), or ``None``."""
        if verb in CALLS:
            record = _call_record(self._codec, verb, value, t)
            self._skipping = record is None
            return None if record is None else self._line(record)
        if self._skipping:
            return None
        if verb == "id":
            return self._line({"dir": "local", "call": "id", "t": t, "id": value})
        if verb == "step":
            assert isinstance(value, Step)
            return self._line({"dir": "out", "t": t, **_step_summary(value)})
        if verb == "raised":
            assert isinstance(value, BaseException)
            return self._line(
                {
                    "dir": "local",
                    "call": "raised",
                    "t": t,
                    "error": type(value).__name__,
                    "message": str(value),
                }
            )
        return None


def _call_record(codec: Codec, verb: str, value: object, t: float) -> dict[str, Any] | None:
    if verb == "receive":
        if isinstance(value, bytes):
            try:  # a socket's text message: kept as text, with the fact it was bytes
                return {"dir": "in", "t": t, "frame": value.decode("utf-8"), "bytes": True}
            except UnicodeDecodeError:
                return {"dir": "in", "t": t, "frame_b64": base64.b64encode(value).decode("ascii")}
        return {"dir": "in", "t": t, "frame": value}
    if verb == "receive_event":
        if not isinstance(value, ServerEvent | UnknownServerEvent):
            return None
        return {"dir": "in", "t": t, "event": _encode(codec, value)}
    if verb == "send":
        if not isinstance(value, ClientEvent):
            return None
        frame = _encode(codec, value)
        return None if frame is None else {"dir": "local", "call": "send", "t": t, "frame": frame}
    if verb == "playback":
        assert isinstance(value, tuple)
        item_id, played_ms = value
        return {
            "dir": "local",
            "call": "playback",
            "t": t,
            "item_id": item_id,
            "played_ms": played_ms,
        }
    if verb == "interrupt":
        return {"dir": "local", "call": "interrupt", "t": t}
    if verb == "tick":
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        return {"dir": "local", "call": "tick", "t": t, "now": value}
    if verb == "transport_closed":
        assert isinstance(value, tuple)
        code, reason = value
        return {"dir": "local", "call": "transport_closed", "t": t, "code": code, "reason": reason}
    if verb == "resume":
        if not isinstance(value, ReconnectPlan):
            return None
        frames = [_encode(codec, e) for e in value.events]
        if any(f is None for f in frames):
            return None
        return {
            "dir": "local",
            "call": "resume",
            "t": t,
            "frames": frames,
            "id_map": dict(value.id_map),
        }
    return None


def _encode(codec: Codec, event: object) -> str | None:
    try:
        return codec.encode(event)  # type: ignore[arg-type]
    except RtStateError:
        return None


# --- reading ---------------------------------------------------------------------------


@attrs.define
class _Outcome:
    """What a replay found about the journal's end (``Replay.truncated``), filled in as
    the lines are read."""

    cut: tuple[int, str] | None = None  # the last line, cut: its number, the parse error
    truncated: Truncation | None = None


def _parse(lines: Iterable[str], outcome: _Outcome) -> Iterator[tuple[int, dict[str, Any]]]:
    """Numbered records, checked against the hash chain; the header first.

    A line that is not JSON is held back: if no line follows it, it is the last line,
    cut (``outcome.cut``); otherwise it is an error.
    """
    last = _SEED
    canonical: Callable[[Mapping[str, Any]], str] | None = None
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        if outcome.cut is not None:
            cut, error = outcome.cut
            raise JournalError(
                f"not JSON ({error}), and not the last line: the journal was damaged here",
                line=cut,
            )
        try:
            record = json.loads(line)
        except ValueError as exc:
            outcome.cut = (number, str(exc))
            continue
        if not isinstance(record, dict):
            raise JournalError("a record is not a JSON object", line=number)
        digest = record.pop("h", None)
        if not isinstance(digest, str) or _DIGEST.fullmatch(digest) is None:
            raise JournalError('not a journal record (no chained hash "h")', line=number)
        if canonical is None:
            canonical = _header_canonical(record, number)
        if _chain(last, canonical(record)) != digest:
            raise JournalError(
                "the hash chain breaks here: the journal was edited, cut or reordered",
                line=number,
            )
        last = digest
        yield number, record


def _header_canonical(header: Mapping[str, Any], line: int) -> Callable[[Mapping[str, Any]], str]:
    """The hashed text of the journal's records, by the header's version."""
    if header.get("journal") != "rtstate":
        raise JournalError("not an rtstate journal (no header)", line=line)
    version = header.get("v")
    canonical = _CANONICAL.get(version) if type(version) is int else None  # not a bool
    if canonical is None:
        readable = " and ".join(str(v) for v in sorted(_CANONICAL, key=str))
        raise JournalError(
            f"journal version {version!r}; this rtstate reads versions {readable}", line=line
        )
    return canonical


def _truncation(outcome: _Outcome, unfinished: int | None) -> Truncation | None:
    """The report of a journal's cut end: its cut last line, its call without a result."""
    cut = outcome.cut
    if unfinished is None:
        if cut is None:
            return None
        return Truncation(
            line=cut[0],
            reason="the last line is cut mid-record (its writer stopped while writing it); "
            "every call before it replayed",
        )
    if cut is None:
        return Truncation(
            line=unfinished,
            reason="the journal ends inside this call (no result recorded: its writer "
            "stopped in it); it is not replayed, every call before it is",
        )
    return Truncation(
        line=unfinished,
        reason=f"the last line ({cut[0]}) is cut mid-record, so this call has no "
        "recorded result; it is not replayed, every call before it is",
    )


def is_journal(first_line: str) -> bool:
    """Whether ``first_line`` is a journal header (for tools that read several formats)."""
    try:
        record = json.loads(first_line)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("journal") == "rtstate"


def journal_dialect(first_line: str) -> Dialect:
    """The dialect a journal was recorded in, from its header line: its config's
    ``dialect``; a header without one is beta (journals from before GA was the
    default, when the config had no dialect or defaulted to beta, were written so).

    Raises:
        JournalError: ``first_line`` is not a journal header.
    """
    if not is_journal(first_line):
        raise JournalError("not an rtstate journal (no header)", line=1)
    config = json.loads(first_line).get("config")
    dialect = config.get("dialect", "beta") if isinstance(config, dict) else "beta"
    if dialect not in ("beta", "ga"):
        raise JournalError(f"the header's config has an unknown dialect {dialect!r}", line=1)
    return "ga" if dialect == "ga" else "beta"


@attrs.frozen
class _Call:
    line: int
    record: Mapping[str, Any]
    ids: tuple[str, ...]
    result: Mapping[str, Any] | None
    result_line: int | None


def _calls(records: Iterator[tuple[int, dict[str, Any]]]) -> Iterator[_Call]:
    current: tuple[int, dict[str, Any]] | None = None
    ids: list[str] = []
    for number, record in records:
        kind = _kind(record)
        if kind == "id":
            if current is None:
                raise JournalError("an event id outside any call", line=number)
            value = record.get("id")
            if not isinstance(value, str):
                raise JournalError("an id record without a string id", line=number)
            ids.append(value)
        elif kind in ("out", "raised"):
            if current is None:
                raise JournalError(f"a result ({kind}) outside any call", line=number)
            yield _Call(current[0], current[1], tuple(ids), record, number)
            current, ids = None, []
        elif kind in CALLS:
            if current is not None:
                raise JournalError("a call without a result before the next call", line=current[0])
            current, ids = (number, record), []
        else:
            raise JournalError(f"unknown record kind {kind!r}", line=number)
    if current is not None:  # the journal ends inside a call (the process died in it)
        yield _Call(current[0], current[1], tuple(ids), None, None)


def _kind(record: Mapping[str, Any]) -> str:
    direction = record.get("dir")
    if direction == "in":
        return "receive_event" if "event" in record else "receive"
    if direction == "out":
        return "out"
    if direction == "local":
        return str(record.get("call"))
    return f"dir={direction!r}"


class _Ids:
    """The id factory of a replay: hands out the ids recorded for the current call."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.line = 0

    def __call__(self) -> str:
        if not self.ids:
            raise JournalError(
                "the replay made an event id the journal does not hold", line=self.line
            )
        return self.ids.pop(0)


_T = TypeVar("_T")


class Replay(Iterator[_T]):
    """The Steps of a replay, in order (an iterator, as ``replay`` returns it).

    Once it is exhausted, ``truncated`` says whether the journal ended cut, as a crash
    of its writer leaves it: a ``Truncation`` (where, and what), or ``None`` for a
    journal that ended whole. Every Step yielded was checked against the journal.
    """

    __slots__ = ("_outcome", "_steps")

    def __init__(self, steps: Iterator[_T], outcome: _Outcome) -> None:
        self._steps = steps
        self._outcome = outcome

    def __iter__(self) -> Replay[_T]:
        return self

    def __next__(self) -> _T:
        return next(self._steps)

    @property
    def truncated(self) -> Truncation | None:
        """The journal's cut end, once the iteration is over (``None`` before it, and
        for a journal that ended whole)."""
        return self._outcome.truncated


def replay(
    journal: Iterable[str],
    *,
    plugins: Sequence[object] = (),
    state: SessionState | None = None,
    dialect: Dialect | None = None,
) -> Replay[Step]:
    """Replay a journal: the Step of every call that returned one, in order.

    A fresh ``ClientConnection`` with the journal's config gets the same calls, with
    the recorded frames and event ids; each Step is checked against the recorded
    result (its ``to_send``, the names of its transitions and diagnostics, the state
    revision), and a recorded exception must be raised again (that call yields no
    Step). Plugins are code, not data: pass again those whose hooks returned events
    (observers such as a transcript or a logger need not be).

    A journal cut by a crash (its last line cut mid-record, or its last call without
    a result) replays up to the cut; the returned ``Replay``'s ``truncated`` then
    says where, once every Step is read.

    Args:
        journal: the journal's lines (an open file works).
        plugins: plugins for the replaying connection.
        state: the state to start from, for a journal recorded on a connection that
            did not start fresh (its header says ``"fresh": false``).
        dialect: read the journal in this dialect instead of its recorded one (a
            header without a ``dialect`` is beta: see ``journal_dialect``).

    Raises:
        JournalError: the journal is malformed, was edited (its hash chain breaks,
            or a line before the last does not parse), or the replay differs from
            it; ``line`` says where. The Steps yielded before it are exact.
    """
    outcome = _Outcome()
    steps = _replay(journal, outcome, plugins=plugins, state=state, dialect=dialect)
    return Replay((step for _, step in steps), outcome)


def replay_lines(
    journal: Iterable[str],
    *,
    plugins: Sequence[object] = (),
    state: SessionState | None = None,
    dialect: Dialect | None = None,
) -> Replay[tuple[int, Step]]:
    """``replay``, with the (1-based) journal line of each call beside its Step.

    Same arguments, result and errors as ``replay``.
    """
    outcome = _Outcome()
    steps = _replay(journal, outcome, plugins=plugins, state=state, dialect=dialect)
    return Replay(steps, outcome)


def _replay(
    journal: Iterable[str],
    outcome: _Outcome,
    *,
    plugins: Sequence[object],
    state: SessionState | None,
    dialect: Dialect | None,
) -> Iterator[tuple[int, Step]]:
    records = _parse(journal, outcome)
    header = next(records, None)
    if header is None:
        if outcome.cut is not None:
            raise JournalError("the header is cut mid-record: nothing to replay", line=1)
        raise JournalError("the journal is empty")
    number, head = header
    config = _config_from(head.get("config"), number)
    if dialect is not None and dialect != config.dialect:
        config = attrs.evolve(config, dialect=dialect)
    codec = codec_for(config.dialect)
    if state is None and head.get("fresh") is not True:
        raise JournalError(
            "the journal was recorded from a state that was not fresh: pass state=",
            line=number,
        )
    ids = _Ids()
    conn = ClientConnection(config=config, plugins=plugins, id_factory=ids, state=state)
    for call in _calls(records):
        if call.result is None:  # the last call (``_calls``): its writer stopped in it
            outcome.truncated = _truncation(outcome, call.line)
            return
        ids.ids, ids.line = list(call.ids), call.line
        run = _runner(conn, codec, call)
        try:
            step = run()
        except JournalError:
            raise
        except RtStateError as exc:
            _expect_raised(call, exc)
            continue
        _expect_step(call, step)
        if ids.ids:
            raise JournalError(
                f"the replay made {len(call.ids) - len(ids.ids)} of the "
                f"{len(call.ids)} event ids recorded for this call",
                line=call.line,
            )
        yield call.line, step
    outcome.truncated = _truncation(outcome, None)


def _runner(conn: ClientConnection, codec: Codec, call: _Call) -> Callable[[], Step]:
    r, line = call.record, call.line
    verb = _kind(r)
    try:
        if verb == "receive":
            if "frame_b64" in r:
                data = base64.b64decode(_get(r, "frame_b64", str, line), validate=True)
                return lambda: conn.receive(data)
            frame = _get(r, "frame", str, line)
            if r.get("bytes") is True:  # received as UTF-8 bytes: replayed as those bytes
                raw = frame.encode("utf-8")
                return lambda: conn.receive(raw)
            return lambda: conn.receive(frame)
        if verb == "receive_event":
            event = codec.decode_server(_get(r, "event", str, line))
            return lambda: conn.receive_event(event)
        if verb == "send":
            sent = _client_event(codec, _get(r, "frame", str, line), line)
            return lambda: conn.send(sent)
        if verb == "playback":
            item_id = _get(r, "item_id", str, line)
            played = r.get("played_ms")
            return lambda: conn.playback(item_id, played)  # type: ignore[arg-type]
        if verb == "interrupt":
            return conn.interrupt
        if verb == "tick":
            now = r.get("now")
            return lambda: conn.tick(now)  # type: ignore[arg-type]
        if verb == "transport_closed":
            code = r.get("code")
            if code is not None and not isinstance(code, int):
                raise JournalError("transport_closed with a code that is not an int", line=line)
            reason = _get(r, "reason", str, line)
            return lambda: conn.transport_closed(code, reason)
        if verb == "resume":
            frames = r.get("frames")
            id_map = r.get("id_map")
            if not isinstance(frames, list) or not isinstance(id_map, dict):
                raise JournalError("resume without frames and id_map", line=line)
            plan = ReconnectPlan(
                events=tuple(_client_event(codec, f, line) for f in frames),
                id_map=dict(id_map),
                dialect=conn.config.dialect,
            )
            return lambda: conn.resume(plan)
    except (RemoteProtocolError, ValueError) as exc:
        raise JournalError(f"the recorded {verb} does not decode: {exc}", line=line) from None
    raise JournalError(f"unknown call {verb!r}", line=line)  # pragma: no cover (see _calls)


def _get(record: Mapping[str, Any], key: str, kind: type, line: int) -> Any:
    value = record.get(key)
    if not isinstance(value, kind):
        raise JournalError(f"{key!r} missing or not a {kind.__name__}", line=line)
    return value


def _client_event(codec: Codec, frame: object, line: int) -> ClientEvent:
    if not isinstance(frame, str):
        raise JournalError("a client event frame is not a string", line=line)
    event = codec.decode_client(frame)
    if not isinstance(event, ClientEvent):
        raise JournalError(f"not a known client event: {event.type!r}", line=line)
    return event


def _expect_raised(call: _Call, exc: RtStateError) -> None:
    result = call.result
    assert result is not None  # checked before the call ran
    if _kind(result) != "raised":
        raise JournalError(
            f"the replay raised {type(exc).__name__} ({exc}) where the recording returned a Step",
            line=call.line,
        )
    if result.get("error") != type(exc).__name__ or result.get("message") != str(exc):
        raise JournalError(
            f"the replay raised {type(exc).__name__}: {exc}; the recording raised "
            f"{result.get('error')}: {result.get('message')}",
            line=call.result_line,
        )


def _expect_step(call: _Call, step: Step) -> None:
    result = call.result
    assert result is not None  # checked before the call ran
    if _kind(result) == "raised":
        raise JournalError(
            f"the recording raised {result.get('error')} here; the replay returned a Step",
            line=call.result_line,
        )
    expected = {
        "frames": result.get("frames"),
        "transitions": result.get("transitions"),
        "diagnostics": result.get("diagnostics"),
        "revision": result.get("revision"),
    }
    actual = _step_summary(step)
    for key, value in expected.items():
        if value != actual[key]:
            raise JournalError(
                f"the replayed Step differs in {key}: recorded {value!r}, replayed "
                f"{actual[key]!r} (were the plugins whose hooks returned events passed "
                "to replay?)",
                line=call.result_line,
            )
