"""Builders of the client events most programs send, one call each.

``user_text("Hello")`` is the ``conversation.item.create`` of a user message with one
``input_text`` part, which otherwise takes four nested constructors
(``ConversationItemCreate(item=Item(type="message", role="user",
content=(ContentPart(type="input_text", text="Hello"),)))``). Every builder returns an
ordinary frozen event value (``rtstate.events``) that ``ClientConnection.send`` or
``AsyncConnection.send`` takes as it is; none of them sends or reads anything.

The parameters use the GA protocol's names (``output_modalities``,
``max_output_tokens``); the values built encode in either dialect. Audio is taken as
raw bytes (PCM samples, or G.711 bytes) and base64-encoded here.

Every builder checks what it is given before it builds anything and raises
``LocalProtocolError`` for what the protocol never allows (odd-length ``pcm16`` audio,
a function output that is not JSON): nothing has been sent, and no state has changed.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, Literal

from .errors import LocalProtocolError
from .events.client import ConversationItemCreate, InputAudioBufferAppend, ResponseCreate
from .events.payloads import (
    AudioFormat,
    ContentPart,
    Item,
    MaxTokens,
    Modality,
    ResponseParams,
    ToolChoice,
    ToolConfig,
)

__all__ = [
    "assistant_text",
    "audio_append",
    "function_output",
    "item_reference",
    "response_create",
    "system_text",
    "user_audio",
    "user_text",
]

_PCM16_SAMPLE_BYTES: Final = 2


def _message(
    role: Literal["user", "assistant", "system"],
    part: ContentPart,
    item_id: str | None,
    previous_item_id: str | None,
) -> ConversationItemCreate:
    return ConversationItemCreate(
        item=Item(type="message", id=item_id, role=role, content=(part,)),
        previous_item_id=previous_item_id,
    )


def user_text(
    text: str, *, item_id: str | None = None, previous_item_id: str | None = None
) -> ConversationItemCreate:
    """A user message holding ``text`` (one ``input_text`` part).

    ``item_id``: the new item's id (``None``: the server picks one).
    ``previous_item_id``: the item to insert it after (``None``: at the end; ``"root"``:
    first). Send ``response_create()`` after it for the model to answer.
    """
    return _message("user", ContentPart(type="input_text", text=text), item_id, previous_item_id)


def system_text(
    text: str, *, item_id: str | None = None, previous_item_id: str | None = None
) -> ConversationItemCreate:
    """A system message holding ``text`` (an instruction added to the conversation;
    the session's ``instructions`` are the usual place for standing ones)."""
    return _message("system", ContentPart(type="input_text", text=text), item_id, previous_item_id)


def assistant_text(
    text: str, *, item_id: str | None = None, previous_item_id: str | None = None
) -> ConversationItemCreate:
    """An assistant message holding ``text``: what the model said earlier, to seed a
    conversation with its history (a ``text`` part; the GA codec writes it
    ``output_text``)."""
    return _message("assistant", ContentPart(type="text", text=text), item_id, previous_item_id)


def _audio(pcm: bytes | bytearray | memoryview, audio_format: AudioFormat, what: str) -> str:
    """``pcm`` as base64 text, after checking it is whole samples of ``audio_format``."""
    if not isinstance(pcm, bytes | bytearray | memoryview):
        raise LocalProtocolError(
            f"{what} takes the audio as bytes, not {type(pcm).__name__}"
            + (" (pass raw bytes: base64 is done here)" if isinstance(pcm, str) else "")
        )
    data = pcm.tobytes() if isinstance(pcm, memoryview) else bytes(pcm)
    if audio_format == "pcm16" and len(data) % _PCM16_SAMPLE_BYTES:
        raise LocalProtocolError(
            f"{what}: pcm16 audio is 2 bytes per sample, but {len(data)} bytes were given "
            "(an odd count: a sample was cut)"
        )
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def user_audio(
    pcm: bytes | bytearray | memoryview,
    *,
    audio_format: AudioFormat = "pcm16",
    transcript: str | None = None,
    item_id: str | None = None,
    previous_item_id: str | None = None,
) -> ConversationItemCreate:
    """A user message holding audio (one ``input_audio`` part), base64-encoded here.

    ``pcm`` is the raw audio in the session's ``input_audio_format``; ``audio_format``
    says which, for the check only (``pcm16``: 16-bit little-endian mono, 24 kHz, so
    an even number of bytes). ``transcript``: what it says, if known.

    Raises:
        LocalProtocolError: ``pcm`` is not bytes, or is ``pcm16`` with an odd length.
    """
    audio = _audio(pcm, audio_format, "user_audio")
    part = ContentPart(type="input_audio", audio=audio, transcript=transcript)
    return _message("user", part, item_id, previous_item_id)


def audio_append(
    pcm: bytes | bytearray | memoryview, *, audio_format: AudioFormat = "pcm16"
) -> InputAudioBufferAppend:
    """``input_audio_buffer.append`` of raw audio, base64-encoded here.

    ``pcm`` is in the session's ``input_audio_format`` (``audio_format`` says which,
    for the check: ``pcm16`` audio must be whole 2-byte samples). Split long audio
    into chunks (100 ms of ``pcm16`` is 4800 bytes); an append is never acknowledged.

    Raises:
        LocalProtocolError: ``pcm`` is not bytes, or is ``pcm16`` with an odd length.
    """
    return InputAudioBufferAppend(audio=_audio(pcm, audio_format, "audio_append"))


def _json_text(output: object) -> str:
    import json  # noqa: PLC0415 - only a non-string output pays for it

    try:
        return json.dumps(output, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise LocalProtocolError(
            f"function_output: the output is not JSON ({exc}); pass a string, or "
            "dicts, lists, strings, numbers, booleans and None",
            path="item.output",
        ) from None


def function_output(
    call_id: str,
    output: object,
    *,
    item_id: str | None = None,
    previous_item_id: str | None = None,
) -> ConversationItemCreate:
    """The answer to a function call: a ``function_call_output`` item for ``call_id``.

    ``output`` is sent as it is when it is a string, and as its JSON text otherwise (a
    dict, list, number, boolean or ``None``: ``{"temp": 21}`` becomes
    ``'{"temp": 21}'``). Send ``response_create()`` after the outputs of a response's
    calls for the model to go on.

    Raises:
        LocalProtocolError: ``output`` is neither a string nor JSON (a set, an object,
            a NaN).
    """
    text = output if isinstance(output, str) else _json_text(output)
    return ConversationItemCreate(
        item=Item(type="function_call_output", id=item_id, call_id=call_id, output=text),
        previous_item_id=previous_item_id,
    )


def item_reference(item_id: str) -> Item:
    """An existing conversation item, by id, for ``response_create(input=...)``."""
    return Item(type="item_reference", id=item_id)


def _modalities(given: Sequence[Modality]) -> tuple[Modality, ...]:
    """GA's ``output_modalities`` as the event classes hold them: audio always comes with
    its transcript (``("audio", "text")``, GA's ``["audio"]``), else ``("text",)``."""
    if isinstance(given, str):
        raise LocalProtocolError(
            f"output_modalities takes a sequence such as ({given!r},), not a string",
            path="response.output_modalities",
        )
    kinds = set(given)
    if not kinds or not kinds <= {"text", "audio"}:
        raise LocalProtocolError(
            f"output_modalities must be ['text'] or ['audio'], not {list(given)!r}",
            path="response.output_modalities",
        )
    return ("audio", "text") if "audio" in kinds else ("text",)


def _positive_or_inf(value: object) -> bool:
    if value == "inf":
        return True
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def response_create(
    *,
    instructions: str | None = None,
    output_modalities: Sequence[Modality] | None = None,
    conversation: Literal["auto", "none"] | None = None,
    metadata: Mapping[str, str] | None = None,
    tools: Sequence[ToolConfig] | None = None,
    tool_choice: ToolChoice | None = None,
    input: Sequence[Item] | None = None,
    voice: str | None = None,
    max_output_tokens: MaxTokens | None = None,
) -> ResponseCreate:
    """``response.create``: ask the model to respond, with per-response overrides.

    With no argument it is the bare ``{"type": "response.create"}`` (the session's
    settings apply). The options, each left out when ``None``:

    * ``instructions``: this response's instructions instead of the session's;
    * ``output_modalities``: ``["text"]`` or ``["audio"]`` (audio comes with its
      transcript; held as ``("audio", "text")``, which is also the beta spelling);
    * ``conversation``: ``"none"`` runs it out of band (its output joins no
      conversation; tell it apart by ``metadata``); ``"auto"``, the default one;
    * ``metadata``: string keys and values echoed on ``response.created`` / ``.done``;
    * ``tools`` / ``tool_choice``: the tools it may call, and whether it must;
    * ``input``: the context it sees instead of the conversation (items, and
      ``item_reference(id)`` for existing ones);
    * ``voice``, ``max_output_tokens`` (an integer or ``"inf"``).

    Raises:
        LocalProtocolError: ``output_modalities`` is empty or holds something else
            than ``"text"`` and ``"audio"``; ``metadata`` does not map strings to
            strings; ``max_output_tokens`` is neither a positive integer nor ``"inf"``.
    """
    if metadata is not None and not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise LocalProtocolError(
            "response_create: metadata maps strings to strings", path="response.metadata"
        )
    if max_output_tokens is not None and not _positive_or_inf(max_output_tokens):
        raise LocalProtocolError(
            f"response_create: max_output_tokens is a positive integer or 'inf', not "
            f"{max_output_tokens!r}",
            path="response.max_output_tokens",
        )
    fields: dict[str, Any] = {
        "instructions": instructions,
        "modalities": None if output_modalities is None else _modalities(output_modalities),
        "conversation": conversation,
        "metadata": None if metadata is None else MappingProxyType(dict(metadata)),
        "tools": None if tools is None else tuple(tools),
        "tool_choice": tool_choice,
        "input": None if input is None else tuple(input),
        "voice": voice,
        "max_response_output_tokens": max_output_tokens,
    }
    given = {name: value for name, value in fields.items() if value is not None}
    return ResponseCreate(response=ResponseParams(**given) if given else None)
