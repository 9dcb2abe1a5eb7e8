"""Hooks are checked against the types they annotate, at registration.

``on_text_appended(self, t: AudioAppended, step)`` would be called with a
``TextAppended``: registration refuses it with a ``PluginError`` that names the hook,
the parameter and both types, and nothing is registered. Annotations that admit the
value pass: none at all, the class itself, a base (``Transition``, ``object``), ``Any``,
a union holding one of them, and names rtstate cannot judge. This module uses
``from __future__ import annotations``, so its hooks' annotations are strings.
"""

from __future__ import annotations

import functools
from typing import Any, Literal, Optional, Union

import pytest

from rtstate import ClientConnection, Config, Step
from rtstate.plugins import PluginError, Plugins
from rtstate.transitions import AudioAppended, TextAppended, Transition

BETA = Config(dialect="beta")


class WrongTransition:
    def on_text_appended(self, t: AudioAppended, step: Step) -> None: ...


class WrongOptional:
    def on_text_appended(self, t: Optional[AudioAppended], step: Step) -> None: ...  # noqa: UP045


class WrongUnion:
    def on_text_appended(self, t: Union[AudioAppended, None], step: Step) -> None: ...  # noqa: UP007


class WrongStep:
    def on_text_appended(self, t: TextAppended, step: TextAppended) -> None: ...


class WrongOnStep:
    def on_step(self, step: TextAppended) -> None: ...


class WrongStatic:
    @staticmethod
    def on_text_appended(t: AudioAppended, step: Step) -> None: ...


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (
            WrongTransition,
            "annotates 't' as AudioAppended, but the hook is called with a TextAppended",
        ),
        (WrongOptional, "Optional[AudioAppended]"),
        (WrongUnion, "Union[AudioAppended, None]"),
        (WrongStep, "annotates 'step' as TextAppended, but the hook is called with a Step"),
        (WrongOnStep, "WrongOnStep.on_step annotates 'step'"),
        (WrongStatic, "WrongStatic.on_text_appended annotates 't'"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_a_hook_annotated_with_another_type_is_refused(cls: type, message: str) -> None:
    with pytest.raises(PluginError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Plugins([cls()])
    with pytest.raises(PluginError, match=cls.__name__):
        ClientConnection(config=BETA, plugins=[cls()])


class Exact:
    def on_text_appended(self, t: TextAppended, step: Step) -> None: ...
    def on_step(self, step: Step) -> None: ...


class Bases:
    def on_text_appended(self, t: Transition, step: object) -> None: ...
    def on_audio_appended(self, t: Any, step: Any) -> None: ...


class Unions:
    def on_text_appended(self, t: TextAppended | AudioAppended, step: Step | None) -> None: ...
    def on_audio_appended(self, t: Union[TextAppended, AudioAppended], step: Step) -> None: ...  # noqa: UP007


class Unannotated:
    def on_text_appended(self, t, step):  # type: ignore[no-untyped-def]
        return None

    def on_audio_appended(self, t, step: Step) -> None: ...  # type: ignore[no-untyped-def]


class Unjudged:
    """``MyAlias`` is no name rtstate knows, and the module does not define it."""

    def on_text_appended(self, t: MyAlias, step: Step) -> None: ...  # type: ignore[name-defined]  # noqa: F821


class Flexible:
    def on_text_appended(self, *args: AudioAppended) -> None: ...


class Odd:
    """Annotations that are no classes rtstate can compare: a generic, a literal."""

    def on_text_appended(self, t: list[int], step: Literal["step"]) -> None: ...


@pytest.mark.parametrize("cls", [Exact, Bases, Unions, Unannotated, Unjudged, Flexible, Odd])
def test_annotations_that_admit_the_value_are_accepted(cls: type) -> None:
    assert Plugins([cls()]).count == 1


def test_a_name_imported_only_for_type_checking_is_matched_by_name() -> None:
    source = """
from __future__ import annotations
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    import rtstate.transitions as tr
    from rtstate.step import Step
    from rtstate.transitions import ItemAdded, TextAppended

class Right:
    def on_item_added(self, t: ItemAdded, step: Step) -> None: ...
    def on_text_appended(self, t: TextAppended | None, step: Step) -> None: ...

    def on_audio_appended(self, t: tr.AudioAppended, step: rtstate.step.Step) -> None: ...

class Wrong:
    def on_text_appended(self, t: ItemAdded, step: Step) -> None: ...

class WrongDotted:
    def on_text_appended(self, t: tr.AudioAppended, step: Step) -> None: ...
"""
    namespace: dict[str, Any] = {"__name__": "typing_only"}
    exec(source, namespace)
    assert Plugins([namespace["Right"]()]).count == 1
    with pytest.raises(PluginError, match="annotates 't' as ItemAdded"):
        Plugins([namespace["Wrong"]()])
    with pytest.raises(PluginError, match=r"annotates 't' as tr\.AudioAppended"):
        Plugins([namespace["WrongDotted"]()])


def test_evaluated_annotations_are_checked_too() -> None:
    """Annotations that are classes, not strings (a module without the future import)."""

    def hook(self: object, t: object, step: object) -> None: ...

    hook.__annotations__ = {"t": AudioAppended, "step": Step, "return": None}
    plugin = type("Evaluated", (), {"on_text_appended": hook})()
    with pytest.raises(PluginError, match="annotates 't' as AudioAppended"):
        Plugins([plugin])
    hook.__annotations__ = {"t": TextAppended | None, "step": Step}
    assert Plugins([plugin]).count == 1


def test_decorated_hooks_and_callable_objects_are_checked() -> None:
    def passthrough(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        return wrapper

    class Decorated:
        @passthrough
        def on_text_appended(self, t: AudioAppended, step: Step) -> None: ...

    class Hook:
        def __call__(self, t: AudioAppended, step: Step) -> None: ...

    class Holder:
        on_text_appended = Hook()

    class Partial:
        on_text_appended = functools.partial(lambda t, step: None)

    with pytest.raises(PluginError, match=r"Decorated\.on_text_appended annotates 't'"):
        Plugins([Decorated()])
    with pytest.raises(PluginError, match=r"Holder\.on_text_appended annotates 't'"):
        Plugins([Holder()])
    assert Plugins([Partial()]).count == 1


def test_a_refused_plugin_registers_nothing_and_a_passed_one_registers_again() -> None:
    attached: list[object] = []

    class Good:
        def attached(self, conn: object) -> None:
            attached.append(conn)

        def on_text_appended(self, t: TextAppended, step: Step) -> None: ...

    with pytest.raises(PluginError):
        ClientConnection(config=BETA, plugins=[Good(), WrongTransition()])
    assert attached == []
    # a class that passed once passes again (its verdict is kept), a refused one is
    # refused every time
    for _ in range(2):
        assert Plugins([Good()]).count == 1
        with pytest.raises(PluginError):
            Plugins([WrongTransition()])
