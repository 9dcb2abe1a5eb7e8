"""A strict ``ClientConnection`` wired back to back with a ``ServerConnection``, in memory.

``Loop`` carries every frame both ways, on a simulated clock, and keeps what crossed
the wire: the server events (decoded), the client events (decoded), the client's
diagnostics. ``Loop.check()`` asserts the two things every back-to-back test wants:
the strict client folded everything without a diagnostic, and the server stream
passes ``rtstate.testing``'s invariant checkers (with the client stream, so the
answers to client events are checked too).

By default a server frame reaches the client the moment it is written (and what the
client answers reaches the server at once, nested). ``Loop(ordered=True)`` puts a
first-in-first-out wire between them instead: ``hold()`` keeps server frames on the
wire (the client is behind, as over a slow network), ``deliver(n)`` hands it the
next ``n``, ``release()`` all of them and stops holding; frames written meanwhile
queue behind those already held, so the client always sees the server's order.

A ``Loop`` built without a ``server`` speaks its ``client``'s dialect, or, without a
client either, beta unless given ``dialect="ga"``: the flow tests it serves were written
against the beta wire (``ServerConnection`` itself defaults to GA, as the real service
does).
"""

from __future__ import annotations

import base64
import functools
import json
import math
import struct
from typing import Any

import attrs

from rtstate import ClientConnection, Config, Diagnostic, RemoteProtocolError, Step
from rtstate.codec import codec_for
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import ErrorInfo
from rtstate.server import ServerConnection, sequential_ids
from rtstate.state import SessionPhase
from rtstate.testing import assert_valid_stream
from rtstate.transitions import TransportClosed

__all__ = ["Loop", "b64", "replay", "silence", "tone"]


def tone(ms: int, *, amplitude: float = 0.3, hz: float = 440.0) -> bytes:
    """``ms`` of a pcm16 sine tone at 24 kHz (loud enough for the default VAD)."""
    n = ms * 24
    peak = 32767 * amplitude
    return struct.pack(
        f"<{n}h", *(int(peak * math.sin(2 * math.pi * hz * i / 24000)) for i in range(n))
    )


@functools.cache
def speech(ms: int) -> bytes:
    """``tone(ms)``, made once per length (the stateful tests ask for the same few)."""
    return tone(ms)


class FlatVoice:
    """Quiet audio, 40 ms per character: cheap, and long enough to interrupt (the
    stateful tests are about events, not sound)."""

    def synthesize(self, text: str, voice: str, audio_format: str) -> bytes:
        per_ms = 48 if audio_format == "pcm16" else 8
        return bytes(max(len(text), 1) * 40 * per_ms)


def silence(ms: int) -> bytes:
    """``ms`` of pcm16 silence."""
    return bytes(ms * 48)


def b64(data: bytes) -> str:
    """Base64 text, as ``input_audio_buffer.append`` carries audio."""
    return base64.b64encode(data).decode("ascii")


@attrs.frozen
class _Close:
    """On the wire: the server closed the socket after the frames before it."""

    transition: TransportClosed


class Loop:
    """A client and a server talking over an in-memory wire (see the module docstring).

    Besides the streams it records ``client_steps`` (every ``Step`` the client
    returned, in call order), ``seen_at`` (parallel to ``client_events``: how many
    server frames the client had received when it sent each one) and ``delivered``.
    """

    def __init__(
        self,
        server: ServerConnection | None = None,
        *,
        client: ClientConnection | None = None,
        now: float = 0.0,
        ordered: bool = False,
        **server_args: Any,
    ) -> None:
        if server is None:
            server_args.setdefault("ids", sequential_ids())
            server_args.setdefault(
                "dialect", client.config.dialect if client is not None else "beta"
            )
            server = ServerConnection(**server_args)
        self.server = server
        self.codec = codec_for(server.dialect)
        self.client = (
            client
            if client is not None
            else ClientConnection(config=Config(strict=True, dialect=server.dialect))
        )
        self.now = now
        self.frames: list[str] = []
        self.server_events: list[s.ServerEvent] = []
        self.client_events: list[c.ClientEvent | c.UnknownClientEvent] = []
        self.server_steps: list[Step] = []
        self.client_diagnostics: list[Diagnostic] = []
        self.inputs: list[tuple[str, str | None, float]] = []
        self.client_steps: list[Step] = []
        self.seen_at: list[int] = []
        self.delivered = 0
        self.ordered = ordered
        self.holding = False
        self._wire: list[str | _Close] = []
        self._pumping = False

    # --- driving -------------------------------------------------------------------------

    def start(self) -> Loop:
        self.inputs.append(("start", None, self.now))
        self._deliver(self.server.start(self.now))
        return self

    def _receive(self, frame: str) -> Step:
        self.inputs.append(("receive", frame, self.now))
        return self.server.receive(frame, self.now)

    def _tick(self) -> Step:
        self.inputs.append(("tick", None, self.now))
        return self.server.tick(self.now)

    def _deliver(self, step: Step) -> Step:
        self.server_steps.append(step)
        if self.ordered:
            for frame in step.to_send:
                self.frames.append(frame)
                event = self.codec.decode_server(frame)
                assert isinstance(event, s.ServerEvent)
                self.server_events.append(event)
                self._wire.append(frame)
            self._wire.extend(_Close(t) for t in step.transitions if isinstance(t, TransportClosed))
            if not self.holding:
                self._pump()
            return step
        for frame in step.to_send:
            self.frames.append(frame)
            event = self.codec.decode_server(frame)
            assert isinstance(event, s.ServerEvent)
            self.server_events.append(event)
            self.delivered += 1
            self._client_step(self.client.receive(frame))
        closing = [t for t in step.transitions if isinstance(t, TransportClosed)]
        if closing and self.client.state.phase is not SessionPhase.CLOSED:
            # the server closed the socket (session_expired): the client sees the close
            self.client.transport_closed(closing[0].code, closing[0].reason)
        return step

    def _pump(self, count: int | None = None) -> None:
        """Hand the client the frames on the wire, in order (``count``: at most that many)."""
        if self._pumping:  # a nested call: the outer loop hands over what was added
            return
        self._pumping = True
        try:
            while self._wire and (count is None or count > 0):
                if count is not None:
                    count -= 1
                item = self._wire.pop(0)
                if isinstance(item, _Close):
                    if self.client.state.phase is not SessionPhase.CLOSED:
                        t = item.transition
                        self._client_step(self.client.transport_closed(t.code, t.reason))
                    continue
                self.delivered += 1
                self._client_step(self.client.receive(item))
        finally:
            self._pumping = False

    def _client_step(self, step: Step) -> Step:
        """Record a Step the client returned and write its frames to the server."""
        self.client_steps.append(step)
        self.client_diagnostics.extend(step.diagnostics)
        self._write(step)
        return step

    def _write(self, step: Step) -> None:
        for frame in step.to_send:
            if self.server.closed:  # the socket is gone: the frame goes nowhere
                return
            event = self.codec.decode_client(frame)
            assert isinstance(event, c.ClientEvent)
            self.client_events.append(event)
            self.seen_at.append(self.delivered)
            self._deliver(self._receive(frame))

    # --- the wire (``ordered=True``) -------------------------------------------------------

    @property
    def held(self) -> int:
        """How many server frames are on the wire, not yet handed to the client."""
        return sum(1 for item in self._wire if not isinstance(item, _Close))

    def hold(self) -> None:
        """Keep the server's frames on the wire until ``deliver`` / ``release``."""
        assert self.ordered, "holding frames needs Loop(ordered=True)"
        self.holding = True

    def deliver(self, count: int) -> None:
        """Hand the client the next ``count`` frames on the wire (still holding the rest)."""
        self._pump(count)

    def release(self) -> None:
        """Stop holding: hand the client everything on the wire."""
        self.holding = False
        self._pump()

    # --- client-side calls --------------------------------------------------------------

    def playback(self, item_id: str, played_ms: int) -> Step:
        """``client.playback``, recorded like any client Step."""
        return self._client_step(self.client.playback(item_id, played_ms))

    def interrupt(self) -> Step:
        """``client.interrupt()``; its frames go to the server."""
        return self._client_step(self.client.interrupt())

    def tick_client(self) -> Step:
        """``client.tick(now)`` on the loop's clock; what it releases goes to the server."""
        return self._client_step(self.client.tick(self.now))

    def send(self, event: c.ClientEvent) -> list[s.ServerEvent]:
        """Send one client event; the server events written in answer.

        After the server closed the session there is no one to send to: nothing happens.
        """
        if self.server.closed:
            return []
        mark = len(self.server_events)
        self._client_step(self.client.send(event))
        return self.server_events[mark:]

    def send_raw(self, frame: str) -> list[s.ServerEvent]:
        """Hand the server a raw frame (one the client could never send).

        A frame that is a JSON object is recorded in ``client_events`` (as the event it
        decodes to, or an ``UnknownClientEvent``) so that errors naming it correlate.
        """
        mark = len(self.server_events)
        try:
            raw = json.loads(frame)
        except ValueError:
            raw = None
        if isinstance(raw, dict):
            try:
                event: c.ClientEvent | c.UnknownClientEvent = self.codec.decode_client(frame)
            except RemoteProtocolError:
                event = c.UnknownClientEvent(type=str(raw.get("type")), raw=raw)
            self.client_events.append(event)
            self.seen_at.append(self.delivered)
        self._deliver(self._receive(frame))
        return self.server_events[mark:]

    def append(self, audio: bytes, *, chunk_ms: int = 100) -> list[s.ServerEvent]:
        """Append pcm16 audio in ``chunk_ms`` pieces; the clock moves on with the audio."""
        mark = len(self.server_events)
        step = chunk_ms * 48
        for i in range(0, len(audio), step):
            if self.server.closed:
                break
            self.send(c.InputAudioBufferAppend(audio=b64(audio[i : i + step])))
            self.advance(len(audio[i : i + step]) / 48 / 1000)
        return self.server_events[mark:]

    def advance(self, seconds: float) -> list[s.ServerEvent]:
        """Let ``seconds`` pass, ticking the server at each of its deadlines on the way."""
        mark = len(self.server_events)
        target = self.now + seconds
        while (due := self.server.next_deadline()) is not None and due <= target:
            self.now = max(self.now, due)
            self._deliver(self._tick())
            if self.server.closed:
                break
        self.now = target
        return self.server_events[mark:]

    def drain(self, limit: float = 3600.0) -> list[s.ServerEvent]:
        """Tick until the response in progress (if any) is done."""
        mark = len(self.server_events)
        while self.server.response_in_progress is not None:
            due = self.server.next_deadline()
            assert due is not None and due <= self.now + limit, "response never finishes"
            self.now = max(self.now, due)
            self._deliver(self._tick())
        return self.server_events[mark:]

    # --- reading -------------------------------------------------------------------------

    def errors(self) -> list[ErrorInfo]:
        return [e.error for e in self.server_events if isinstance(e, s.Error)]

    def types(self, events: list[s.ServerEvent] | None = None) -> list[str]:
        return [e.type for e in (self.server_events if events is None else events)]

    def check(self) -> None:
        """Zero client diagnostics, and a valid server stream (with the client's)."""
        assert self.client_diagnostics == []
        assert_valid_stream(self.server_events, client_events=self.client_events)


def replay(server: ServerConnection, inputs: list[tuple[str, str | None, float]]) -> list[str]:
    """Feed a fresh server what a ``Loop`` fed its own; every frame it writes, in order."""
    frames: list[str] = []
    for verb, frame, now in inputs:
        if verb == "start":
            step = server.start(now)
        elif verb == "tick":
            step = server.tick(now)
        else:
            assert frame is not None
            step = server.receive(frame, now)
        frames.extend(step.to_send)
    return frames
