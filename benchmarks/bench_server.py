"""Server role speed: microseconds per server frame written by ``ServerConnection``.

Run ``python benchmarks/bench_server.py``. Each line times one flow and divides by the
server frames it wrote (validate, plan, fold the server's own event, encode):

- text: ``response.create`` answered with a text response of 1,000 deltas;
- audio: a spoken response (synthetic voice, 100 ms audio deltas, interleaved
  transcript), with and without the synthesis (a voice that returns ready bytes);
- capped: a 20,000-character spoken reply, cut at the 4,096-token output cap
  (audio counts a token per 50 ms), its audio rendered delta by delta;
- function call: a call with 1,000 argument deltas;
- VAD: 100 ms pcm16 appends through the energy detector, per client frame;
- back to back: a strict ``ClientConnection`` folding every frame the server writes
  for the text flow (server + client, per frame).

Each time is the best of several runs with the cyclic GC off inside a run.
``RTSTATE_BENCH_QUICK=1`` runs far shorter flows (a smoke run for tests).
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
from collections.abc import Callable
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
REPEATS = 2 if QUICK else 5
TEXT_CHARS = 600 if QUICK else 6_000  # 6 chars per delta: 1,000 deltas
SPOKEN_CHARS = 100 if QUICK else 1_000  # 60 ms per char: 60 s of audio
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


def best(run: Callable[[], int]) -> float:
    """Best microseconds per frame of ``run`` (which returns its frame count)."""
    times = []
    for _ in range(REPEATS):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            frames = run()
            elapsed = time.perf_counter() - start
        finally:
            gc.enable()
        times.append(elapsed * 1e6 / max(frames, 1))
    return min(times)


def answer(reply: Any, *, modalities: tuple[str, ...], voice: Any = None) -> Callable[[], int]:
    """A fresh server's answer to one ``response.create``; returns the frames written."""
    create = json.dumps({"type": "response.create", "response": {"modalities": list(modalities)}})

    def run() -> int:
        server = ServerConnection(
            responder=ScriptedResponder([reply]),
            voice=voice,
            config=ServerConfig(chunking=Chunking(audio_ms=100)),
        )
        server.start(0.0)
        return len(server.receive(create).to_send)

    return run


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
        step = server.receive('{"type": "response.create", "response": {"modalities": ["text"]}}')
        for frame in step.to_send:
            client.receive(frame)
            count += 1
        return count

    return run


def main() -> None:
    print(
        f"rtstate.server on Python {platform.python_version()} ({sys.platform})"
        f"{' (quick run: numbers are rough)' if QUICK else ''}"
    )
    print(f"best of {REPEATS} runs; us = microseconds; one frame = one event written")
    print()
    lines = [
        ("text response, 1,000 deltas", answer("x" * TEXT_CHARS, modalities=("text",))),
        (
            "audio response, synthetic voice",
            answer("spoken words " * (SPOKEN_CHARS // 13), modalities=("audio", "text")),
        ),
        (
            "audio response, ready audio",
            answer(
                "spoken words " * (SPOKEN_CHARS // 13),
                modalities=("audio", "text"),
                voice=ReadyVoice(),
            ),
        ),
        (
            "audio reply of 20,000 chars, capped",
            answer("spoken words " * (CAPPED_CHARS // 13), modalities=("audio", "text")),
        ),
        (
            "function call, 1,000 deltas",
            answer(FunctionCall(name="f", arguments="a" * ARG_CHARS), modalities=("text",)),
        ),
        ("VAD: 100 ms appends (per client frame)", vad_appends()),
        ("back to back with a strict client", back_to_back()),
    ]
    for name, run in lines:
        print(f"  {name:42} {best(run):8.2f} us/frame")


if __name__ == "__main__":
    main()
