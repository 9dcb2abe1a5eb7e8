"""``rtstate.audio``: decoded views of output audio, from transitions and retained audio."""

from __future__ import annotations

import base64
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.server_harness import Loop

from rtstate import ClientConnection, Config, LocalProtocolError, SessionState, Step
from rtstate import transitions as tr
from rtstate.audio import SAMPLE_RATES, Pcm, decode, output_format, pcm, retained
from rtstate.config import AudioRetention, Dialect
from rtstate.events import client as c
from rtstate.events.payloads import AudioFormat, SessionConfig
from rtstate.server import ScriptedResponder
from rtstate.testing import Flow, audio_responses

DIALECTS: tuple[Dialect, ...] = ("ga", "beta")


def _appended(steps: list[Step]) -> list[tuple[tr.AudioAppended, SessionState]]:
    return [
        (t, step.after)
        for step in steps
        for t in step.transitions
        if isinstance(t, tr.AudioAppended)
    ]


# --- Pcm ----------------------------------------------------------------------------------


def test_pcm_shape_follows_its_format() -> None:
    one_second = Pcm(bytes(48_000))
    assert (one_second.format, one_second.sample_rate, one_second.channels) == ("pcm16", 24_000, 1)
    assert one_second.frames == 24_000 and one_second.ms == 1000.0 and one_second.seconds == 1.0
    ulaw = Pcm(bytes(800), "g711_ulaw")
    assert ulaw.sample_rate == 8_000 and ulaw.ms == 100.0
    stereo = Pcm(bytes(400), "pcm16", 8_000, 2)
    assert stereo.frame_bytes == 4 and stereo.ms == 12.5


def test_pcm_refuses_an_unknown_format_and_bad_shapes() -> None:
    with pytest.raises(LocalProtocolError, match="unknown audio format 'mp3'"):
        Pcm(b"", "mp3")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="sample_rate must be >= 1"):
        Pcm(b"", "pcm16", 0)
    with pytest.raises(LocalProtocolError, match="channels must be >= 1"):
        Pcm(b"", channels=0)


def test_pcm_repr_shows_the_shape_not_the_bytes() -> None:
    text = repr(Pcm(b"\x01\x02" * 2400))
    assert text == "Pcm(pcm16, 24000 Hz, 1 ch, 4800 bytes, 100.0 ms)"


def test_g711_expands_to_linear_pcm16_by_the_standard_tables() -> None:
    # ITU-T G.711 fixed points: u-law 0xFF / 0x7F are +0 / -0, 0x00 / 0x80 the extremes;
    # A-law 0xD5 / 0x55 are the smallest steps, 0xAA / 0x2A the extremes
    ulaw = Pcm(bytes([0xFF, 0x7F, 0x00, 0x80]), "g711_ulaw").to_pcm16()
    assert struct.unpack("<4h", ulaw.data) == (0, 0, -32124, 32124)
    assert (ulaw.format, ulaw.sample_rate, ulaw.ms) == ("pcm16", 8_000, 0.5)
    alaw = Pcm(bytes([0xD5, 0x55, 0xAA, 0x2A]), "g711_alaw").to_pcm16()
    assert struct.unpack("<4h", alaw.data) == (8, -8, 32256, -32256)
    ramp = struct.unpack("<128h", Pcm(bytes(range(128, 256)), "g711_ulaw").to_pcm16().data)
    assert list(ramp) == sorted(ramp, reverse=True)  # 0x80 loudest .. 0xFF zero
    same = Pcm(b"\x00\x01")
    assert same.to_pcm16() is same


def test_cut_and_join() -> None:
    audio = Pcm(bytes(range(200)) * 24, "pcm16")  # 4800 bytes: 100 ms
    head, tail = audio.cut(0, 40), audio.cut(40)
    assert head.ms == 40.0 and tail.ms == 60.0
    assert Pcm.join([head, tail]) == audio
    assert audio.cut(90, 500).ms == 10.0 and audio.cut(80, 20).ms == 0.0
    assert Pcm.join([]) == Pcm(b"")
    with pytest.raises(LocalProtocolError, match="cannot join g711_ulaw"):
        Pcm.join([audio, Pcm(b"\x00", "g711_ulaw")])


def test_decode_refuses_text_that_is_not_base64() -> None:
    assert decode(base64.b64encode(b"\x01\x02").decode(), "g711_alaw").data == b"\x01\x02"
    with pytest.raises(LocalProtocolError, match="not valid base64"):
        decode("***")


# --- from the fold ------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("fmt", ["pcm16", "g711_ulaw", "g711_alaw"])
def test_audio_appended_decodes_in_its_responses_format(dialect: Dialect, fmt: AudioFormat) -> None:
    loop = Loop(responder=ScriptedResponder(["Hello there."]), dialect=dialect).start()
    loop.send(c.SessionUpdate(session=SessionConfig(output_audio_format=fmt)))
    loop.send(c.ResponseCreate())
    appended = _appended(loop.client_steps)
    assert appended
    for t, after in appended:
        chunk = t.pcm(after)
        assert (chunk.format, chunk.sample_rate) == (fmt, SAMPLE_RATES[fmt])
        assert chunk.data == base64.b64decode(t.audio)
        assert len(chunk.data) == t.byte_count and chunk.ms == pytest.approx(t.ms)
        assert pcm(t, after) == chunk == t.pcm(fmt)
    item = loop.client.state.items[-1]
    assert Pcm.join(t.pcm(a) for t, a in appended).ms == pytest.approx(item.audio_ms)
    loop.check()


def test_the_transition_keeps_base64_and_the_fold_decodes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = Loop(responder=ScriptedResponder(["Hi."]), dialect="ga").start()

    def refuse(*_: object, **__: object) -> bytes:
        raise AssertionError("the fold decoded base64")

    monkeypatch.setattr(base64, "b64decode", refuse)
    loop.send(c.ResponseCreate())  # folds the audio deltas without decoding them
    monkeypatch.undo()
    (t, after), *_ = _appended(loop.client_steps)
    assert isinstance(t.audio, str) and t.pcm(after).data


@pytest.mark.parametrize("dialect", DIALECTS)
def test_retained_audio_is_the_items_deltas_joined(dialect: Dialect) -> None:
    client = ClientConnection(
        config=Config(strict=True, dialect=dialect, audio_retention=AudioRetention.PER_ITEM)
    )
    loop = Loop(client=client, responder=ScriptedResponder(["One.", "Two."])).start()
    loop.send(c.SessionUpdate(session=SessionConfig(output_audio_format="g711_alaw")))
    loop.send(c.ResponseCreate())
    loop.send(c.ResponseCreate())
    state = loop.client.state
    appended = _appended(loop.client_steps)
    for item in state.items:
        kept = retained(state, item.id)
        assert kept.format == "g711_alaw" and kept.ms == pytest.approx(item.audio_ms)
        assert kept == Pcm.join(t.pcm(a) for t, a in appended if t.item_id == item.id)
        assert retained(state, item.id, 0) == kept
    assert retained(state, "item_unknown") == Pcm(b"", "g711_alaw")  # empty, the session's
    loop.check()


def test_retained_audio_is_empty_without_retention() -> None:
    loop = Loop(responder=ScriptedResponder(["One."]), dialect="ga").start()
    loop.send(c.ResponseCreate())
    item = loop.client.state.items[-1]
    assert item.audio_ms > 0 and retained(loop.client.state, item.id).data == b""


def test_output_format_prefers_the_response_then_the_session() -> None:
    loop = Loop(responder=ScriptedResponder(["a", "b"]), dialect="ga").start()
    loop.send(c.SessionUpdate(session=SessionConfig(output_audio_format="g711_ulaw")))
    loop.send(c.ResponseCreate())
    first = loop.client.state.finished[-1].id
    loop.send(c.SessionUpdate(session=SessionConfig(output_audio_format="pcm16")))
    state = loop.client.state
    assert output_format(state, first) == "g711_ulaw"  # fixed when it was created
    assert output_format(state, "resp_forgotten") == "pcm16"  # the session's now
    assert output_format(SessionState(), None) == "pcm16"


@pytest.mark.parametrize("dialect", DIALECTS)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_audio_decodes_to_its_byte_count(dialect: Dialect, data: st.DataObject) -> None:
    flow: Flow = data.draw(audio_responses(dialect=dialect))
    conn = ClientConnection(config=Config(strict=True, dialect=dialect))
    steps = [conn.receive_event(e) for e in flow.server_events]
    for t, after in _appended(steps):  # a response may stream no audio
        chunk = t.pcm(after)
        assert len(chunk.data) == t.byte_count and chunk.ms == pytest.approx(t.ms)
