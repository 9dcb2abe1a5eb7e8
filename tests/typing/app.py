"""A small app written as a user would: ``rtstate``, its builders and ``rtstate_plugins``.

``test_mypy_app.py`` type-checks this file with ``mypy --strict`` the way an installed
copy is seen (through the packages' ``py.typed`` markers, not their sources as files to
check), expects no error, and checks that a typo in a closed-set field is reported. It
also runs ``main()``: the app works against the fake server.
"""

from __future__ import annotations

from rtstate_plugins import Tools, Transcript

import rtstate
from rtstate import build
from rtstate import transitions as tr
from rtstate.codec import ga
from rtstate.events import (
    ClientEvent,
    ContentPart,
    ContentType,
    ConversationItemCreate,
    Item,
    Role,
    SessionConfig,
    SessionCreated,
)

tools = Tools()


@tools.register
def get_weather(city: str) -> dict[str, str]:
    """The weather in a city."""
    return {"city": city, "sky": "clear"}


@tools.tool(name="local_time", description="The time in a city.")
def time_in(city: str) -> str:
    return f"It is noon in {city}."


class Greeter:
    """Greets once the session starts; counts the user's messages."""

    def __init__(self) -> None:
        self.user_messages = 0

    def on_session_started(self, t: tr.SessionStarted, step: rtstate.Step) -> ClientEvent:
        return build.response_create(instructions="Greet the user.", output_modalities=["text"])

    def on_item_added(self, t: tr.ItemAdded, step: rtstate.Step) -> None:
        if t.type == "message" and t.role == "user":
            self.user_messages += 1


def message(role: Role, text: str) -> ConversationItemCreate:
    """A message built by hand, the long way (``role`` is a closed set)."""
    kind: ContentType = "text" if role == "assistant" else "input_text"
    return ConversationItemCreate(
        item=Item(type="message", role=role, content=(ContentPart(type=kind, text=text),))
    )


def first_events() -> list[ClientEvent]:
    return [
        message("system", "Answer in one sentence."),
        build.user_text("What's the weather in Oslo?"),
        build.audio_append(bytes(4800)),
        build.function_output("call_1", {"city": "Oslo", "sky": "clear"}),
        build.response_create(
            conversation="none",
            metadata={"kind": "summary"},
            output_modalities=["text"],
            input=[build.item_reference("item_1")],
        ),
        ConversationItemCreate(item=Item(type="message", role="user", content=())),
    ]


def speakers(state: rtstate.SessionState) -> list[Role]:
    return [item.role for item in state.items if item.role is not None]


def main() -> tuple[int, int]:
    """Open a session by hand, send the first events; the frames written and the
    user messages the greeter counted."""
    greeter = Greeter()
    conn = rtstate.ClientConnection(plugins=[greeter, Transcript(), tools])
    created = SessionCreated(event_id="e1", session=SessionConfig(id="sess_1"))
    frames = list(conn.receive(ga.encode(created)).to_send)
    for event in first_events():
        frames.extend(conn.send(event).to_send)
    return len(frames), greeter.user_messages
