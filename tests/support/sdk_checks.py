"""Strict checks of what the official OpenAI SDK receives from our server.

Shared by ``test_transport_sdk.py`` (the SDK's beta client) and
``test_transport_sdk_ga.py`` (its GA client). The SDK itself is lenient:
``RealtimeConnection.recv`` builds models with ``construct_type_unchecked``, which
never rejects anything. ``Checker.check`` is strict where the SDK is not:

- the raw bytes of ``recv_bytes()`` validate against the SDK's server event union
  with pydantic in strict mode;
- a pydantic discriminated union over the same classes (tagged by ``type``) picks
  the same class, and that class's ``type`` literal is the frame's ``type``;
- the SDK's own lenient ``parse_event`` picks the same class (when a connection is given);
- no field is unknown to the SDK's models, except a few the real service sends and
  the SDK's models never declared (``known_extras``, listed by each test with its source);
- the validated model dumps back to exactly the JSON received (nothing coerced).
"""

from __future__ import annotations

import functools
import math
import struct
import threading
import typing
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any, Final, Generic, Protocol, TypeVar, Union

import orjson
import pydantic
import pytest

from rtstate.server import BYTES_PER_MS

__all__ = [
    "GA_DELTA_EXTRAS",
    "PCM16_MS",
    "PROXY_VARIABLES",
    "TOKEN",
    "WATCHDOG_S",
    "WEATHER_TOOL",
    "Checker",
    "Received",
    "extras",
    "of",
    "speech",
    "unset_proxies",
    "watchdog",
]

TOKEN: Final = "test"
WATCHDOG_S: Final = 30.0  # a hung recv() is closed by then, and the test fails
PCM16_MS: Final = BYTES_PER_MS["pcm16"]  # bytes per millisecond
PROXY_VARIABLES: Final = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "WS_PROXY", "WSS_PROXY")

GA_DELTA_EXTRAS: Final = frozenset(
    # every real GA text, transcript, arguments and input-transcription delta carries
    # ``obfuscation`` (tests/data/corpus/ga/pydantic-ai/); the SDK's delta models do not
    # declare it
    (cls, "obfuscation")
    for cls in (
        "ResponseTextDeltaEvent",
        "ResponseAudioTranscriptDeltaEvent",
        "ResponseFunctionCallArgumentsDeltaEvent",
        "ConversationItemInputAudioTranscriptionDeltaEvent",
    )
)

WEATHER_TOOL: Final[dict[str, Any]] = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


class _Typed(Protocol):
    @property
    def type(self) -> str: ...


class SdkConnection(Protocol):
    """What both SDK connections (beta and GA, sync) offer that the checks use."""

    def recv_bytes(self) -> bytes: ...

    def parse_event(self, data: str | bytes) -> object: ...


E = TypeVar("E", bound=_Typed)
C = TypeVar("C", bound=SdkConnection)


def unset_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's websockets client honours proxy variables; these tests speak to
    loopback only."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def extras(model: object) -> set[tuple[str, str]]:
    """``(class name, field)`` for every field of ``model`` (recursively) that its
    class does not declare (the SDK's models allow extra fields)."""
    found: set[tuple[str, str]] = set()
    if isinstance(model, pydantic.BaseModel):
        found.update((type(model).__name__, name) for name in model.model_extra or {})
        for name in type(model).model_fields:
            found |= extras(getattr(model, name))
    elif isinstance(model, list | tuple):
        for value in model:
            found |= extras(value)
    return found


class Checker(Generic[E]):
    """The strict checks of the module docstring against one SDK server event union
    (``Annotated[Union[...], PropertyInfo(discriminator="type")]``, as the SDK writes it)."""

    def __init__(self, union: Any, known_extras: frozenset[tuple[str, str]]) -> None:
        # the SDK's PropertyInfo discriminator is the SDK's own metadata: pydantic
        # validates the union as a plain (smart) union
        self.adapter: pydantic.TypeAdapter[E] = pydantic.TypeAdapter(union)
        self.members: tuple[type[pydantic.BaseModel], ...] = typing.get_args(
            typing.get_args(union)[0]
        )
        self.tagged: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(
            typing.cast(
                "Any",
                Annotated[Union[self.members], pydantic.Field(discriminator="type")],  # noqa: UP007
            )
        )
        self.class_of: dict[str, type[pydantic.BaseModel]] = {
            typing.get_args(member.model_fields["type"].annotation)[0]: member
            for member in self.members
        }
        self.known_extras = known_extras

    def check(self, raw: bytes, connection: SdkConnection | None = None) -> E:
        """``raw`` as the SDK's event, strictly: see the module docstring."""
        data = orjson.loads(raw)
        event = self.adapter.validate_json(raw, strict=True)
        model = typing.cast("pydantic.BaseModel", event)
        tagged = self.tagged.validate_json(raw, strict=True)
        assert type(tagged) is type(model) is self.class_of[data["type"]], data["type"]
        assert event.type == data["type"]
        if connection is not None:  # the SDK's own lenient parse agrees on the class
            assert type(connection.parse_event(raw)) is type(model)
        unknown = extras(model) - self.known_extras
        assert not unknown, f"{data['type']}: fields the SDK does not know: {sorted(unknown)}"
        assert model.model_dump(mode="json", exclude_unset=True) == data, data["type"]
        return event


class Received(Generic[C, E]):
    """An SDK connection and every event it received, in order, each checked."""

    def __init__(self, connection: C, checker: Checker[E]) -> None:
        self.connection = connection
        self.checker = checker
        self.events: list[E] = []

    def recv(self) -> E:
        event = self.checker.check(self.connection.recv_bytes(), self.connection)
        self.events.append(event)
        return event

    def until(self, kind: str) -> list[E]:
        """Receive up to and including the next event of type ``kind``."""
        start = len(self.events)
        while self.recv().type != kind:
            pass
        return self.events[start:]


@contextmanager
def watchdog(close: Callable[..., None]) -> Iterator[None]:
    """Calls ``close(code=1011)`` if the block is still running after ``WATCHDOG_S``:
    a ``recv()`` that would hang fails instead."""
    timer = threading.Timer(WATCHDOG_S, functools.partial(close, code=1011))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


T = TypeVar("T")


def of(events: Sequence[object], kind: type[T]) -> list[T]:
    """The events of class ``kind``, in order."""
    return [e for e in events if isinstance(e, kind)]


def speech(ms: int, *, loud: bool = True) -> bytes:
    """pcm16 at 24 kHz: a 220 Hz tone at about -9 dBFS, or silence."""
    samples = ms * PCM16_MS // 2
    amplitude = 0.5 * 32767 if loud else 0.0
    return b"".join(
        struct.pack("<h", int(amplitude * math.sin(2 * math.pi * 220 * n / 24_000)))
        for n in range(samples)
    )
