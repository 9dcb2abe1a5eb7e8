"""Server role speed: microseconds per server frame written by ``ServerConnection``,
beside the client's ``ClientConnection.receive`` of exactly those frames.

Run ``python benchmarks/bench_server.py``. Part one plays three streams (GA, the
default dialect) through a fresh server and times it per event written (decode and
check the client frames, plan, fold the server's own events, encode), then times a
fresh ``ClientConnection`` (default ``Config``) receiving the frames that server wrote,
per frame, and prints the ratio server / client (the target is at most 2):

- text: ``response.create`` answered with a text response of 1,000 deltas;
- audio: a spoken response (synthetic voice, 100 ms audio deltas, interleaved
  transcript deltas) of about 60 s;
- session: 40 turns of a user message and a reply of 20 text deltas (every fourth
  reply spoken instead).

Part two times other flows of the server alone, per frame written:

- audio with ready bytes: the spoken response with a voice that returns ready bytes
  (no synthesis: the server's own share of an audio delta);
- capped: a 20,000-character spoken reply, cut at the 4,096-token output cap
  (audio counts a token per 50 ms), its audio rendered delta by delta;
- function call: a call with 1,000 argument deltas;
- VAD: 100 ms pcm16 appends through the energy detector, per client frame;
- back to back: a strict ``ClientConnection`` folding every frame the server writes
  for the text flow (server + client, per frame).

Each time is the best of several runs with the cyclic GC off inside a run; the server
and client runs of a stream are interleaved round by round, so a change in machine
load weighs on both. ``RTSTATE_BENCH_QUICK=1`` runs far shorter flows (a smoke run
for tests).
"""

from __future__ import annotations

import base64
import gc
import json
import math
import os
import platform
import struct
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from rtstate import ClientConnection, Config
from rtstate.server import (
    Chunking,
    FunctionCall,
    ScriptedResponder,
    ServerConfig,
    ServerConnection,
)

QUICK = os.environ.get("RTSTATE_BENCH_QUICK") == "1"
REPEATS = 2 if QUICK else 7
TEXT_CHARS = 600 if QUICK else 6_000  # 6 chars per delta: 1,000 deltas
SPOKEN_CHARS = 100 if QUICK else 1_000  # 60 ms per char: 60 s of audio
TURNS = 4 if QUICK else 40
TURN_CHARS = 120  # 20 deltas of text per reply
SPOKEN_TURN = "a short spoken answer " * 2  # every fourth reply: about 2.6 s of audio
ARG_CHARS = 1_200 if QUICK else 12_000  # 12 chars per delta: 1,000 deltas
APPENDS = 20 if QUICK else 300  # 100 ms each
CAPPED_CHARS = 2_000 if QUICK else 20_000  # past the output cap


class ReadyVoice:
    """A voice that costs nothing: precomputed bytes sized by the text."""

    def __init__(self) -> None:
        self._cache: dict[int, bytes] = {}

    def synthesize(self, text: str, voice: str, audio_format: str) -> bytes:
        n = len(text) * 60 * 48
        audio = self._cache.get(n)
        if audio is None:
            audio = self._cache[n] = bytes(i % 251 for i in range(n))
        return audio


def timed(run: Callable[[], int]) -> float:
    """Microseconds per frame of one ``run`` (which returns its frame count)."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        frames = run()
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    return elapsed * 1e6 / max(frames, 1)


def best(run: Callable[[], int]) -> float:
    """Best microseconds per frame of ``run`` over ``REPEATS`` runs."""
    return min(timed(run) for _ in range(REPEATS))


def create(modalities: Sequence[str]) -> str:
    """A GA ``response.create`` asking for ``modalities``."""
    return json.dumps(
        {"type": "response.create", "response": {"output_modalities": list(modalities)}}
    )


def user_message(text: str) -> str:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return json.dumps({"type": "conversation.item.create", "item": item})


def serve(
    replies: Sequence[Any], client_frames: Sequence[str], voice: Any = None
) -> Callable[[], list[str]]:
    """A fresh server fed ``client_frames``; returns every frame it wrote."""

    def run() -> list[str]:
        server = ServerConnection(
            responder=ScriptedResponder(list(replies)),
            voice=voice,
            config=ServerConfig(chunking=Chunking(audio_ms=100)),
        )
        written = list(server.start(0.0).to_send)
        for frame in client_frames:
            written.extend(server.receive(frame).to_send)
        return written

    return run


def counted(run: Callable[[], list[str]]) -> Callable[[], int]:
    return lambda: len(run())


def client_receives(frames: Sequence[str]) -> Callable[[], int]:
    """A fresh default client receiving ``frames``."""

    def run() -> int:
        receive = ClientConnection(config=Config()).receive
        for frame in frames:
            receive(frame)
        return len(frames)

    return run


def text_stream() -> Callable[[], list[str]]:
    return serve(["x" * TEXT_CHARS], [create(["text"])])


def audio_stream() -> Callable[[], list[str]]:
    return serve(["spoken words " * (SPOKEN_CHARS // 13)], [create(["audio"])])


def session_stream() -> Callable[[], list[str]]:
    replies: list[str] = []
    frames: list[str] = []
    for turn in range(TURNS):
        spoken = turn % 4 == 3
        replies.append(SPOKEN_TURN if spoken else f"turn {turn} " + "y" * (TURN_CHARS - 8))
        frames.append(user_message(f"question number {turn}"))
        frames.append(create(["audio"] if spoken else ["text"]))
    return serve(replies, frames)


def pcm16_tone(ms: int) -> bytes:
    n = ms * 24
    return struct.pack(f"<{n}h", *(int(9000 * math.sin(i / 8)) for i in range(n)))


def vad_appends() -> Callable[[], int]:
    speech = base64.b64encode(pcm16_tone(100)).decode()
    quiet = base64.b64encode(bytes(4_800)).decode()
    frames = [
        json.dumps({"type": "input_audio_buffer.append", "audio": quiet if i // 10 % 2 else speech})
        for i in range(APPENDS)
    ]

    def run() -> int:
        responder = ScriptedResponder(["ok"], cycle=True)
        server = ServerConnection(responder=responder, voice=ReadyVoice())
        server.start(0.0)
        for frame in frames:
            server.receive(frame)
        return len(frames)

    return run


def back_to_back() -> Callable[[], int]:
    def run() -> int:
        server = ServerConnection(responder=ScriptedResponder(["x" * TEXT_CHARS]))
        client = ClientConnection(config=Config(strict=True))
        count = 0
        for frame in server.start(0.0).to_send:
            client.receive(frame)
        for frame in server.receive(create(["text"])).to_send:
            client.receive(frame)
            count += 1
        return count

    return run


def compare(name: str, stream: Callable[[], list[str]]) -> None:
    """Server us per event written, client us per frame of those frames, the ratio."""
    frames = stream()
    assert frames == stream(), "the server wrote different frames for the same input"
    server_run, client_run = counted(stream), client_receives(frames)
    server_us, client_us = math.inf, math.inf
    for _ in range(REPEATS):  # interleaved: a burst of load weighs on both
        server_us = min(server_us, timed(server_run))
        client_us = min(client_us, timed(client_run))
    print(
        f"  {name:8} {len(frames):6} {server_us:14.2f} {client_us:14.2f}"
        f" {server_us / client_us:12.2f}x"
    )


def main() -> None:
    print(
        f"rtstate.server on Python {platform.python_version()} ({sys.platform})"
        f"{' (quick run: numbers are rough)' if QUICK else ''}"
    )
    print(f"best of {REPEATS} runs; us = microseconds; one frame = one event written")
    print()
    print("the server beside the client's receive of the same frames (GA, default Config)")
    print(f"  {'stream':8} {'frames':>6} {'server us/frame':>14} {'client us/frame':>14} ratio")
    compare("text", text_stream())
    compare("audio", audio_stream())
    compare("session", session_stream())
    print()
    print("other flows, the server alone")
    ready = serve(["spoken words " * (SPOKEN_CHARS // 13)], [create(["audio"])], ReadyVoice())
    capped = serve(["spoken words " * (CAPPED_CHARS // 13)], [create(["audio"])])
    call = serve([FunctionCall(name="f", arguments="a" * ARG_CHARS)], [create(["text"])])
    lines = [
        ("audio response, ready audio", counted(ready)),
        ("audio reply of 20,000 chars, capped", counted(capped)),
        ("function call, 1,000 deltas", counted(call)),
        ("VAD: 100 ms appends (per client frame)", vad_appends()),
        ("back to back with a strict client", back_to_back()),
    ]
    for name, run in lines:
        print(f"  {name:42} {best(run):8.2f} us/frame")


if __name__ == "__main__":
    main()
