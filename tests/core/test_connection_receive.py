"""``ClientConnection.receive``'s inlined path for the common frame: a frame whose
fold plans events (a queued ``response.create`` released by ``response.done``) still
sends them in the same call, exactly as ``receive_event`` does."""

from __future__ import annotations

from support.helpers import Server

from rtstate import ClientConnection, Config
from rtstate.codec import beta
from rtstate.events import client as c
from rtstate.events.payloads import ResponseParams

BETA = Config(dialect="beta")
CREATE = c.ResponseCreate(response=ResponseParams(modalities=("text",)))


def test_a_released_create_is_sent_by_the_frame_that_releases_it() -> None:
    steps = []
    for receive in ("frame", "event"):
        srv = Server()
        conn = ClientConnection(config=BETA)
        conn.receive(beta.encode(srv.session_created()))
        first = conn.send(CREATE)
        queued = conn.send(CREATE)  # held back: a default response is in flight
        assert len(first.to_send) == 1 and queued.to_send == ()
        for event in (srv.response_created(), srv.response_done()):
            step = (
                conn.receive(beta.encode(event))
                if receive == "frame"
                else conn.receive_event(event)
            )
        assert step.planned == () and len(step.to_send) == 1
        assert [type(e) for e in step.sent] == [c.ResponseCreate]
        steps.append((step, conn.state))
    assert steps[0] == steps[1]
