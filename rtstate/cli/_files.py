"""``rtstate replay FILE`` and ``rtstate check FILE``: read a recorder journal or a JSONL
capture, fold it, and print the conversation (``replay``) or the protocol problems with
their line numbers (``check``).

``add_replay`` and ``add_check`` register the two subcommands (``rtstate.cli``'s
``_COMMANDS``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TextIO

import attrs
from rtstate_plugins.transcript import entries, render_markdown, render_text

from ..codec import codec_for, detect_dialect
from ..config import Config, Dialect
from ..connection import ClientConnection
from ..errors import LocalProtocolError, RemoteProtocolError
from ..events.client import ClientEvent, UnknownClientEvent
from ..events.server import ServerEvent, UnknownServerEvent
from ..journal import JournalError, Truncation, is_journal, journal_dialect, replay_lines
from ..state import SessionPhase, SessionState
from ..step import Diagnostic, Step
from ..transitions import ResponseFinished
from ._base import EPILOG, EXIT_BAD_FILE, EXIT_OK, EXIT_UNREADABLE, EXIT_VIOLATIONS, Fail

__all__ = ["add_check", "add_replay"]


@attrs.frozen
class _Line:
    """A numbered line of the input file."""

    number: int
    text: str


@attrs.define
class _Session:
    """What reading a file gave: the folded session, its diagnostics, its streams."""

    state: SessionState
    kind: str
    dialect: Dialect = "ga"
    diagnostics: list[tuple[int, Diagnostic]] = attrs.Factory(list)
    responses: list[tuple[int, ResponseFinished]] = attrs.Factory(list)
    server: list[tuple[int, ServerEvent | UnknownServerEvent]] = attrs.Factory(list)
    client: list[tuple[int, ClientEvent | UnknownClientEvent]] = attrs.Factory(list)
    errors: list[tuple[int, str]] = attrs.Factory(list)
    truncated: Truncation | None = None
    """A journal that ends cut (a crash of its writer): where, and what."""

    def take(self, number: int, step: Step) -> None:
        self.state = step.after
        if isinstance(step.input, ServerEvent | UnknownServerEvent):  # not Malformed
            self.server.append((number, step.input))
        self.diagnostics.extend((number, d) for d in step.diagnostics)
        self.responses.extend(
            (number, t) for t in step.transitions if isinstance(t, ResponseFinished)
        )


def _read(path: str) -> list[_Line]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise Fail(f"{path}: no such file", EXIT_UNREADABLE) from None
    except IsADirectoryError:
        raise Fail(f"{path}: is a directory", EXIT_UNREADABLE) from None
    except PermissionError:
        raise Fail(f"{path}: permission denied", EXIT_UNREADABLE) from None
    except UnicodeDecodeError as exc:
        raise Fail(f"{path}: not UTF-8 text ({exc.reason})", EXIT_UNREADABLE) from None
    except OSError as exc:
        raise Fail(f"{path}: cannot read: {exc.strerror or exc}", EXIT_UNREADABLE) from None
    return [_Line(n, t) for n, t in enumerate(text.splitlines(), 1) if t.strip()]


def _json(path: str, line: _Line) -> dict[str, Any]:
    try:
        value = json.loads(line.text)
    except ValueError as exc:
        raise Fail(f"{path}:{line.number}: not JSON ({exc})", EXIT_BAD_FILE) from None
    if not isinstance(value, dict):
        raise Fail(f"{path}:{line.number}: not a JSON object", EXIT_BAD_FILE)
    return value


def _load(path: str, plugins: Sequence[object] = (), dialect: Dialect | None = None) -> _Session:
    """Fold a journal (by replay) or a capture (by receive / send) from ``path``, in
    ``dialect`` (``None``: the journal's, or the one the capture's frames show)."""
    lines = _read(path)
    if not lines:
        raise Fail(f"{path}: empty file", EXIT_BAD_FILE)
    if is_journal(lines[0].text):
        return _load_journal(path, lines, plugins, dialect)
    first = _json(path, lines[0])
    if "direction" in first and "event" in first:
        return _load_capture(path, lines, plugins, both=True, dialect=dialect)
    if isinstance(first.get("type"), str):
        return _load_capture(path, lines, plugins, both=False, dialect=dialect)
    raise Fail(
        f'{path}:{lines[0].number}: neither a journal nor a capture (no "type", no '
        '"direction"/"event", no journal header)',
        EXIT_BAD_FILE,
    )


def _load_journal(
    path: str, lines: list[_Line], plugins: Sequence[object], dialect: Dialect | None
) -> _Session:
    # the blank lines back in place (the journal skips them): its line numbers are the file's
    texts = [""] * lines[-1].number
    for line in lines:
        texts[line.number - 1] = line.text
    chosen = dialect or journal_dialect(lines[0].text)
    session = _Session(state=SessionState(), kind="journal", dialect=chosen)
    replayed = replay_lines(texts, plugins=plugins, dialect=dialect)
    try:
        for number, step in replayed:
            session.take(number, step)
            session.client.extend((number, e) for e in step.sent)
    except JournalError as exc:
        where = f":{exc.line}" if exc.line is not None else ""
        raise Fail(f"{path}{where}: {exc.reason}", EXIT_BAD_FILE) from None
    session.truncated = replayed.truncated
    return session


def _load_capture(
    path: str,
    lines: list[_Line],
    plugins: Sequence[object],
    *,
    both: bool,
    dialect: Dialect | None,
) -> _Session:
    frames: list[tuple[int, str, str]] = []  # (line, "server"|"client", frame)
    for line in lines:
        if not both:
            frames.append((line.number, "server", line.text))
            continue
        record = _json(path, line)
        direction, event = record.get("direction"), record.get("event")
        if direction not in ("server", "client") or not isinstance(event, dict):
            raise Fail(
                f'{path}:{line.number}: expected {{"direction": "server"|"client", '
                '"event": {...}}',
                EXIT_BAD_FILE,
            )
        frames.append((line.number, str(direction), json.dumps(event)))
    if dialect is None:
        dialect = _detect(frames)
    codec = codec_for(dialect)
    start = SessionState()
    first_server = next((f for n, d, f in frames if d == "server"), None)
    if first_server is not None and not _is_session_created(first_server):
        start = SessionState(phase=SessionPhase.OPEN)  # a fragment, from mid-session
    conn = ClientConnection(config=Config(dialect=dialect), plugins=plugins, state=start)
    session = _Session(state=start, kind="capture", dialect=dialect)
    for number, direction, frame in frames:
        if direction == "server":
            session.take(number, conn.receive(frame))
            continue
        try:
            event = codec.decode_client(frame)
        except RemoteProtocolError as exc:
            session.errors.append((number, f"client frame does not decode: {exc}"))
            continue
        session.client.append((number, event))
        if not isinstance(event, ClientEvent):
            session.errors.append((number, f"unknown client event {event.type!r}"))
            continue
        try:
            session.take(number, conn.send(event))
        except LocalProtocolError as exc:
            session.errors.append((number, str(exc)))
    return session


def _detect(frames: list[tuple[int, str, str]]) -> Dialect:
    """The capture's dialect, from its first frames that tell (``detect_dialect``):
    GA, the default, when none does."""

    def objects() -> Iterator[dict[str, Any]]:
        for _, _, frame in frames:
            try:
                value = json.loads(frame)
            except ValueError:
                continue
            if isinstance(value, dict):
                yield value

    return detect_dialect(objects()) or "ga"


def _is_session_created(frame: str) -> bool:
    try:
        value = json.loads(frame)
    except ValueError:
        return False
    return isinstance(value, dict) and value.get("type") == "session.created"


_DIALECT_NAMES: Final[Mapping[Dialect, str]] = {"beta": "beta", "ga": "GA"}

# --- replay ------------------------------------------------------------------------------


def _usage(t: ResponseFinished) -> str:
    u = t.usage
    if u is None:
        return "no usage"
    parts = [
        f"{name} {value}"
        for name, value in (
            ("input", u.input_tokens),
            ("output", u.output_tokens),
            ("total", u.total_tokens),
        )
        if value is not None
    ]
    return ", ".join(parts) + " tokens" if parts else "no usage"


def _truncated(path: str, truncated: Truncation) -> str:
    """The warning line for a journal that ends cut (not a protocol violation)."""
    return f"{path}:{truncated.line}: warning: truncated journal: {truncated.reason}\n"


def _replay(args: argparse.Namespace, out: TextIO) -> int:
    session = _load(args.file, dialect=args.dialect)
    found = entries(session.state)
    render = render_markdown if args.markdown else render_text
    cut = f", truncated at line {session.truncated.line}" if session.truncated else ""
    out.write(f"# {args.file} ({session.kind}, {_DIALECT_NAMES[session.dialect]}{cut})\n\n")
    out.write("## conversation\n")
    out.write((render(found) or "(empty)") + "\n\n## responses\n")
    for number, t in session.responses:
        reason = t.status_details.reason if t.status_details is not None else None
        status = f"{t.status} ({reason})" if reason else str(t.status)
        out.write(f"line {number}: {t.response_id} {status}: {_usage(t)}\n")
    if not session.responses:
        out.write("(none)\n")
    out.write("\n## diagnostics\n")
    for number, d in session.diagnostics:
        note = " (informational)" if d.informational else ""
        out.write(f"{args.file}:{number}: {d.code}: {d.message}{note}\n")
    for number, message in session.errors:
        out.write(f"{args.file}:{number}: error: {message}\n")
    if session.truncated is not None:
        out.write(_truncated(args.file, session.truncated))
    if not session.diagnostics and not session.errors and session.truncated is None:
        out.write("(none)\n")
    violated = session.errors or any(not d.informational for _, d in session.diagnostics)
    return EXIT_VIOLATIONS if args.strict and violated else EXIT_OK


def _add_file_command(
    commands: Any, run: Callable[[argparse.Namespace, TextIO], int], *, help: str, description: str
) -> argparse.ArgumentParser:
    """Register a subcommand named after ``run`` that reads one FILE."""
    p: argparse.ArgumentParser = commands.add_parser(
        run.__name__.strip("_"),
        help=help,
        description=description,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--dialect",
        choices=("beta", "ga"),
        help="read FILE in this dialect (default: a journal's recorded one; for a "
        "capture, the one its first telling frames show, else GA)",
    )
    p.set_defaults(run=run)
    return p


def add_replay(commands: Any) -> None:
    """Register ``rtstate replay``."""
    p = _add_file_command(
        commands,
        _replay,
        help="fold a journal or a capture; print the conversation, responses, diagnostics",
        description="Fold FILE (a recorder journal, replayed exactly, or a JSONL capture) "
        "and print the conversation in order, each response with its usage, and every "
        "diagnostic with its line number.",
    )
    p.add_argument(
        "--strict", action="store_true", help="exit 1 if there is any protocol violation"
    )
    p.add_argument("--markdown", action="store_true", help="print the conversation as Markdown")


# --- check -------------------------------------------------------------------------------


def _check(args: argparse.Namespace, out: TextIO) -> int:
    from ..testing import check_stream  # noqa: PLC0415 (hypothesis: half the command's start-up)

    session = _load(args.file, dialect=args.dialect)
    problems: list[tuple[int | None, str]] = []
    problems.extend(
        (number, f"{d.code}: {d.message}")
        for number, d in session.diagnostics
        if d.code == "malformed"
    )
    problems.extend((number, f"error: {message}") for number, message in session.errors)
    events = [e for _, e in session.server]
    violations = check_stream(
        events,
        client_events=[e for _, e in session.client] if session.client else None,
        from_start=bool(events) and events[0].type == "session.created",
        complete=not args.partial and session.truncated is None,  # a cut journal is partial
    )
    for v in violations:
        number = session.server[v.index][0] if v.index is not None else None
        problems.append((number, f"{v.invariant}: {v.message}"))
    problems.sort(key=lambda p: (p[0] is None, p[0] or 0))
    for number, message in problems:
        where = f":{number}" if number is not None else " (end of stream)"
        out.write(f"{args.file}{where}: {message}\n")
    if session.truncated is not None:
        out.write(_truncated(args.file, session.truncated))
    count = len(problems)
    partial = " (a truncated journal: checked as --partial)" if session.truncated else ""
    out.write(
        f"{args.file}: {len(session.server)} server and {len(session.client)} client "
        f"{_DIALECT_NAMES[session.dialect]} events, "
        f"{count} problem{'s' if count != 1 else ''}{partial}\n"
    )
    return EXIT_VIOLATIONS if problems else EXIT_OK


def add_check(commands: Any) -> None:
    """Register ``rtstate check``."""
    p = _add_file_command(
        commands,
        _check,
        help="lint a journal or a capture against the protocol, with line numbers",
        description="Check FILE's server events (and the client's, when the file has "
        "them) against the protocol's ordering invariants (INV-1..17); print each "
        "problem as FILE:LINE: INVARIANT: message.",
    )
    p.add_argument(
        "--partial",
        action="store_true",
        help="the file ends mid-session: do not report what is still open at its end",
    )
