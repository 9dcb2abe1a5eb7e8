"""``rtstate_plugins.log``: transitions and diagnostics as logging records, with levels
and structured ``extra=`` fields, against the fake server."""

from __future__ import annotations

import logging

import pytest
from rtstate_plugins import Log
from rtstate_plugins.log import level_of
from support.server_harness import Loop

from rtstate import ClientConnection, Config, Diagnostic, RemoteProtocolError
from rtstate.events import client as c
from rtstate.events.payloads import ResponseParams
from rtstate.server import ScriptedResponder
from rtstate.transitions import ResponseFinished, TextAppended

BETA = Config(dialect="beta")
"""These tests feed beta frames: their connections say so (GA is the default)."""


def records(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger]


def test_transitions_are_logged_with_levels_and_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="rtstate")
    client = ClientConnection(config=Config(dialect="beta", strict=True), plugins=[Log()])
    loop = Loop(client=client, responder=ScriptedResponder(["Hello there, friend."])).start()
    loop.send(c.ResponseCreate(response=ResponseParams(modalities=("text",))))
    loop.check()
    logged = records(caplog, "rtstate.transitions")
    names = [r.rt_name for r in logged]  # type: ignore[attr-defined]
    assert names[0] == "SessionStarted" and names[-1] == "ResponseFinished"
    assert "TextAppended" in names
    by_name = {r.rt_name: r for r in logged}  # type: ignore[attr-defined]
    delta = by_name["TextAppended"]
    assert delta.levelno == logging.DEBUG and delta.rt_kind == "transition"  # type: ignore[attr-defined]
    assert delta.rt_input == "ResponseTextDelta"  # type: ignore[attr-defined]
    assert set(delta.rt_fields) == {"item_id", "content_index", "delta", "response_id"}  # type: ignore[attr-defined]
    done = by_name["ResponseFinished"]
    assert done.levelno == logging.INFO
    assert done.rt_fields["status"] == "completed"  # type: ignore[attr-defined]
    assert done.rt_fields["usage"]["output_tokens"] > 0  # type: ignore[attr-defined]
    assert done.rt_revision == loop.client.state.revision  # type: ignore[attr-defined]
    assert "ResponseFinished(response_id=" in done.getMessage()
    # at INFO, the deltas cost nothing and are not there
    caplog.clear()
    caplog.set_level(logging.INFO, logger="rtstate")
    loop.send(c.ResponseCreate(response=ResponseParams(modalities=("text",))))
    assert "TextAppended" not in [r.rt_name for r in caplog.records]  # type: ignore[attr-defined]


def test_diagnostics_and_raised_calls(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="rtstate")
    client = ClientConnection(config=BETA, plugins=[Log()])
    loop = Loop(client=client).start()
    loop.send(c.ResponseCancel())  # nothing to cancel: an informational diagnostic
    client.receive(
        '{"type": "response.text.delta", "event_id": "e", "response_id": "r", "item_id": "x",'
        ' "output_index": 0, "content_index": 0, "delta": "?"}'
    )
    logged = records(caplog, "rtstate.diagnostics")
    levels = {r.rt_name: r.levelno for r in logged}  # type: ignore[attr-defined]
    assert levels["cancel_not_active"] == logging.DEBUG
    violation = [r for r in logged if r.levelno == logging.WARNING]
    assert violation and violation[0].rt_kind == "diagnostic"  # type: ignore[attr-defined]
    assert violation[0].rt_input == "ResponseTextDelta"  # type: ignore[attr-defined]

    caplog.clear()
    strict = ClientConnection(config=Config(dialect="beta", strict=True), plugins=[Log()])
    with pytest.raises(RemoteProtocolError):
        strict.receive("not json")
    (raised,) = records(caplog, "rtstate.diagnostics")
    assert raised.levelno == logging.WARNING and raised.rt_kind == "raised"  # type: ignore[attr-defined]
    assert raised.rt_name == "RemoteProtocolError"  # type: ignore[attr-defined]


def test_a_raising_plugin_is_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def on_session_started(self, t: object, step: object) -> None:
            raise RuntimeError("boom")

    caplog.set_level(logging.DEBUG, logger="rtstate")
    client = ClientConnection(config=BETA, plugins=[Log(), Broken()])
    Loop(client=client).start()
    errors = [r for r in records(caplog, "rtstate.diagnostics") if r.levelno == logging.ERROR]
    assert [r.rt_name for r in errors] == ["plugin_error"]  # type: ignore[attr-defined]
    assert "boom" in errors[0].getMessage()


def test_levels() -> None:
    delta = TextAppended(item_id="i", content_index=0, delta="x", response_id="r")
    done = ResponseFinished(response_id="r", status="completed", status_details=None, usage=None)
    assert level_of(delta) == logging.DEBUG and level_of(done) == logging.INFO
    assert level_of(Diagnostic(code="INV-7", message="m")) == logging.WARNING
    assert level_of(Diagnostic(code="interrupted", message="m")) == logging.DEBUG
