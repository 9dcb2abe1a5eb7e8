"""Same client frames, same times, same seed: byte-identical server frames.

A session that touches every part of the server (paced audio, VAD turns with
transcription, barge-in, tools, truncate, delete, errors) is replayed against fresh
servers: with the same seed the frames are identical byte for byte; with another seed
only the ids differ.
"""

from __future__ import annotations

import json
import re

from support.server_harness import Loop, replay, silence, tone

from rtstate.events import client as c
from rtstate.events.payloads import InputAudioTranscription, Item, SessionConfig, Tool
from rtstate.server import (
    ServerConfig,
    ServerConnection,
    SyntheticVoice,
    ToolCallingResponder,
)

CONFIG = ServerConfig(delta_interval=0.03)


def server(seed: int) -> ServerConnection:
    return ServerConnection(
        config=CONFIG,
        responder=ToolCallingResponder(preamble="Checking."),
        voice=SyntheticVoice(kind="noise"),
        seed=seed,
        dialect="beta",
    )


def session(seed: int) -> Loop:
    loop = Loop(server(seed), now=1000.0).start()
    loop.send(
        c.SessionUpdate(
            session=SessionConfig(
                tools=(Tool(name="lookup", parameters={"type": "object"}),),
                input_audio_transcription=InputAudioTranscription(model="whisper-1"),
            )
        )
    )
    loop.append(tone(600) + silence(300))  # VAD turn -> a call
    loop.drain()
    calls = [i for i in loop.client.state.items if i.type == "function_call"]
    loop.send(
        c.ConversationItemCreate(
            item=Item(type="function_call_output", call_id=calls[-1].call_id, output="{}")
        )
    )
    loop.send(c.ResponseCreate())
    loop.advance(0.1)
    loop.append(tone(300))  # barge-in
    loop.append(silence(300))
    loop.drain()
    assistant = [i for i in loop.client.state.items if i.role == "assistant" and i.audio_ms]
    loop.send(
        c.ConversationItemTruncate(item_id=assistant[0].id, content_index=0, audio_end_ms=100)
    )
    loop.send(c.ConversationItemDelete(item_id=loop.client.state.items[0].id))
    loop.send(c.InputAudioBufferCommit())  # an error: too little audio
    loop.send_raw('{"type": "what"}')
    loop.drain()
    loop.check()
    return loop


def test_same_frames_and_seed_give_byte_identical_frames() -> None:
    loop = session(seed=7)
    assert len(loop.frames) > 50
    assert replay(server(7), loop.inputs) == loop.frames
    assert replay(server(7), loop.inputs) == loop.frames


def test_another_seed_changes_only_the_ids() -> None:
    # a session whose client frames name no server-made id, so both servers can follow it
    loop = Loop(server(7)).start()
    loop.append(tone(400) + silence(300))
    loop.drain()
    loop.send(c.ResponseCreate())
    loop.advance(0.05)
    loop.send(c.ResponseCancel())
    loop.send(c.InputAudioBufferCommit())
    loop.check()
    other = replay(server(8), loop.inputs)
    assert other != loop.frames
    ids = re.compile(r"\b(event|item|resp|sess|call|conv)_[A-Za-z0-9]+")
    assert [ids.sub("ID", f) for f in other] == [ids.sub("ID", f) for f in loop.frames]


def test_ids_look_like_the_real_ones() -> None:
    loop = session(seed=1)
    first = json.loads(loop.frames[0])
    assert re.fullmatch(r"event_[A-Za-z0-9]{21}", first["event_id"])
    assert re.fullmatch(r"sess_[A-Za-z0-9]{21}", first["session"]["id"])
    calls = [i.call_id for i in loop.client.state.items if i.type == "function_call"]
    assert calls and all(re.fullmatch(r"call_[A-Za-z0-9]{16}", str(x)) for x in calls)


def test_injected_clock_is_used_when_no_time_is_given() -> None:
    times = iter([50.0, 50.0, 51.0])
    srv = ServerConnection(clock=lambda: next(times), config=ServerConfig(session_duration=10.0))
    created = json.loads(srv.start().to_send[0])
    assert created["session"]["expires_at"] == 60
    assert srv.now == 50.0
    srv.receive('{"type": "input_audio_buffer.clear"}')
    srv.tick()
    assert srv.now == 51.0
