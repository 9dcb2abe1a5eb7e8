"""Events, payloads, transitions, states and steps share one ``__repr__``
(``rtstate._repr.fields_repr``) instead of one compiled by attrs per class: it must
write exactly what attrs' would."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from rtstate import state, step
from rtstate._repr import fields_repr
from rtstate.events import client as c
from rtstate.events import payloads
from rtstate.events import server as s
from rtstate.transitions import TRANSITION_TYPES, AudioAppended

CLASSES: list[type[Any]] = sorted(
    {
        *(v for v in vars(s).values() if isinstance(v, type) and issubclass(v, s.ServerEvent)),
        *(v for v in vars(c).values() if isinstance(v, type) and issubclass(v, c.ClientEvent)),
        *TRANSITION_TYPES,
        *(
            v
            for module in (payloads, state, step)
            for v in vars(module).values()
            if attrs.has(v) and v.__module__ == module.__name__
        ),
        s.UnknownServerEvent,
        c.UnknownClientEvent,
    },
    key=lambda cls: cls.__qualname__,
)


def _filled(cls: type[Any], values: dict[str, Any]) -> Any:
    instance = object.__new__(cls)
    for name, value in values.items():
        object.__setattr__(instance, name, value)
    return instance


def _attrs_repr_of(cls: type[Any], values: dict[str, Any]) -> str:
    """What attrs' own generated ``__repr__`` writes for these values: a twin class with
    the same fields and the same ``repr`` settings, built with attrs' repr."""
    twin = attrs.make_class(
        cls.__name__,
        {a.name: attrs.field(repr=a.repr) for a in attrs.fields(cls)},
        frozen=True,
        repr=True,
    )
    return repr(twin(**values))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__qualname__)
def test_the_shared_repr_writes_what_attrs_would(cls: type[Any]) -> None:
    own: object = cls.__repr__
    assert own is fields_repr, f"{cls.__qualname__} compiles its own __repr__"
    values: dict[str, Any] = {
        a.name: (f"v{i}", {"k": i}, None, i)[i % 4] for i, a in enumerate(attrs.fields(cls))
    }
    assert repr(_filled(cls, values)) == _attrs_repr_of(cls, values)


def test_fields_declared_without_repr_stay_out() -> None:
    audio = AudioAppended(
        item_id="i", content_index=0, byte_count=3, ms=1.0, audio="c2VjcmV0", response_id="r"
    )
    assert "c2VjcmV0" not in repr(audio) and "audio=" not in repr(audio)
    unknown = s.UnknownServerEvent(type="x.y", raw={"event_id": "e", "secret": "s3"})
    assert repr(unknown) == "UnknownServerEvent(type='x.y')"


def test_enough_classes_are_checked() -> None:
    assert len(CLASSES) > 140  # every event, payload, transition, state and step class


def test_an_mcp_tools_credentials_never_reach_a_repr() -> None:
    tool = payloads.ExtensionTool(
        type="mcp",
        config={
            "server_label": "weather",
            "server_url": "https://mcp.example/sse",
            "authorization": "sk-mcp-secret",
            "headers": {"X-Api-Key": "hdr-secret"},
        },
    )
    session = c.SessionUpdate(session=payloads.SessionConfig(tools=(tool,)))
    for shown in (repr(tool), repr(session)):
        assert "sk-mcp-secret" not in shown and "hdr-secret" not in shown
        assert "'authorization': '[redacted]'" in shown and "'server_label': 'weather'" in shown
    assert tool.config["authorization"] == "sk-mcp-secret"  # kept, only not shown
