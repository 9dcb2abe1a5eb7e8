"""Plugins: objects with ``on_<transition>`` hooks that return client events.

A plugin is any object. Its hooks are optional methods: ``on_<transition>`` for any
transition (``on_text_appended(transition, step)``), ``on_step(step)`` for every
step, ``attached(connection)`` and ``detached(connection, error)``. Registration
checks every ``on_*`` name against the known hooks (a typo is an error, as pluggy
does), that each hook takes the right arguments, and that the type annotations of
those arguments admit what the hook will get (``on_text_appended(self, t:
AudioAppended, step)`` is an error), then builds a dispatch index: a transition type
nobody hooks costs one dict lookup.

Hooks never send. They return ``None``, one client event, or an iterable of them;
the connection folds those in the same call. A hook that raises, or returns
something else, detaches its plugin and is reported as a diagnostic (or re-raised
with ``Config(plugin_errors="raise")``); the fold itself is never affected.
"""

from __future__ import annotations

import ast
import inspect
import math
import types
import typing
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from .errors import RtStateError
from .events.client import ClientEvent
from .step import Diagnostic, Step
from .transitions import TRANSITION_TYPES, Transition, hook_name

__all__ = ["HOOK_NAMES", "Dispatched", "PluginError", "Plugins"]

_TRANSITION_HOOKS: Final[dict[str, type[Transition]]] = {hook_name(t): t for t in TRANSITION_TYPES}
HOOK_NAMES: Final[frozenset[str]] = frozenset({*_TRANSITION_HOOKS, "on_step"})
"""Every valid ``on_*`` hook name."""

_LIFECYCLE: Final = {"attached": 1, "detached": 2}


class PluginError(RtStateError):
    """A plugin is malformed (unknown hook name, wrong signature) or misbehaved."""


def _accepts(fn: Callable[..., Any], count: int) -> bool:
    """Whether ``fn`` can be called with ``count`` positional arguments.

    A plain function or a method of one is read off its code object (registration
    then costs microseconds, not the tens ``inspect.signature`` takes per hook: with
    ``inspect.signature`` alone, bench_fold's text and audio streams, which register
    3 plugins per run, take about 0.3 us/frame more);
    anything else (a decorated function with ``__wrapped__``, a partial, a callable
    object, a builtin) goes through ``inspect.signature``.
    """
    shape = _positional_shape(fn)
    if shape is None:
        try:
            inspect.signature(fn).bind(*([None] * count))
        except TypeError:
            return False
        except ValueError:  # no signature (a builtin): give it the benefit of the doubt
            return True
        return True
    required, accepted = shape
    return required <= count <= accepted


def _positional_shape(fn: Callable[..., Any]) -> tuple[int, float] | None:
    """``(required, accepted)`` positional arguments of a plain function or a method
    bound to one (``accepted`` is infinite with ``*args``), ``_NEVER`` when no
    positional call binds (a keyword-only parameter without a default), or ``None``
    when only ``inspect.signature`` can tell."""
    bound = 0
    if fn.__class__ is types.MethodType:
        fn, bound = fn.__func__, 1
    if fn.__class__ is not types.FunctionType or fn.__dict__:  # __wrapped__, __signature__
        return None
    code = fn.__code__
    defaults = len(fn.__defaults__ or ())
    kw_defaults = fn.__kwdefaults__ or {}
    kw_only = code.co_varnames[code.co_argcount : code.co_argcount + code.co_kwonlyargcount]
    if any(name not in kw_defaults for name in kw_only):
        return _NEVER
    varargs = code.co_flags & inspect.CO_VARARGS
    accepted = math.inf if varargs else float(code.co_argcount - bound)
    if bound and not code.co_argcount and not varargs:
        return _NEVER  # a method with no parameter for its instance
    return (max(code.co_argcount - defaults - bound, 0), accepted)


_NEVER: Final = (1, 0.0)
"""The shape of a function no positional call binds (it requires more than it accepts)."""


def _validate(plugin: object) -> None:
    name = type(plugin).__name__
    for attr in dir(plugin):
        if attr.startswith("on_"):
            if attr not in HOOK_NAMES:
                import difflib  # noqa: PLC0415 - only a misspelt hook pays for it

                close = difflib.get_close_matches(attr, sorted(HOOK_NAMES), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise PluginError(f"{name}.{attr} is not a plugin hook{hint}")
            fn = getattr(plugin, attr)
            count = 1 if attr == "on_step" else 2
            if not callable(fn) or not _accepts(fn, count):
                raise PluginError(f"{name}.{attr} must be callable with {count} argument(s)")
            if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
                raise PluginError(
                    f"{name}.{attr} is async: hooks return client events and never await "
                    "(await in the adapter layer, as a consumer of Steps)"
                )
            expected = (Step,) if attr == "on_step" else (_TRANSITION_HOOKS[attr], Step)
            _check_annotations(f"{name}.{attr}", fn, expected)
        elif attr in _LIFECYCLE:
            fn = getattr(plugin, attr)
            if not callable(fn) or not _accepts(fn, _LIFECYCLE[attr]):
                raise PluginError(f"{name}.{attr} must take {_LIFECYCLE[attr]} argument(s)")
            if inspect.iscoroutinefunction(fn):
                raise PluginError(f"{name}.{attr} is async: it would never be awaited")


def _check_annotations(where: str, fn: Callable[..., Any], expected: tuple[type, ...]) -> None:
    """Refuse a hook whose positional parameters are annotated with a type that does not
    admit what it is called with (``expected``, in order).

    A parameter without an annotation is fine, and so is one that admits the value: the
    class itself or a base of it (``Transition``, ``object``), ``Any``, a union holding
    one of those (``TextAppended | AudioAppended``), or anything rtstate cannot judge (a
    type variable, a protocol). String annotations (``from __future__ import
    annotations``) are evaluated in the hook's module; a name only imported under
    ``TYPE_CHECKING`` is then matched by its name against the transition classes.
    """
    plain = fn.__func__ if fn.__class__ is types.MethodType else fn
    checked = _CHECKED.get(plain) if plain.__class__ is types.FunctionType else None
    if checked is not None and expected in checked:
        return
    found = _annotations(fn, len(expected))
    if not found:
        return
    annotations, module = found
    for (param, annotation), value_type in zip(annotations, expected, strict=False):
        if annotation is inspect.Parameter.empty:
            continue
        verdict = _admits(annotation, value_type, module)
        if verdict is False:
            shown = annotation if isinstance(annotation, str) else _type_name(annotation)
            raise PluginError(
                f"{where} annotates {param!r} as {shown}, but the hook is called with a "
                f"{value_type.__name__} there"
            )
    if plain.__class__ is types.FunctionType:
        _CHECKED.setdefault(plain, set()).add(expected)


_CHECKED: Final[weakref.WeakKeyDictionary[Any, set[tuple[type, ...]]]] = weakref.WeakKeyDictionary()
"""Plain hook functions whose annotations passed, by the argument types checked: a
plugin class registered again (bench_fold registers three per run) pays one lookup
per hook, not an ``eval`` per string annotation."""


def _annotations(
    fn: Callable[..., Any], count: int
) -> tuple[list[tuple[str, Any]], dict[str, Any]] | None:
    """The first ``count`` positional parameters of ``fn`` (after a bound instance) as
    (name, annotation), and the namespace its string annotations are evaluated in; a
    plain function or method is read off its code object, like ``_accepts``."""
    bound = 0
    target: Any = fn
    if target.__class__ is types.MethodType:
        target, bound = target.__func__, 1
    if target.__class__ is types.FunctionType and not target.__dict__:
        code = target.__code__
        names = code.co_varnames[bound : code.co_argcount][:count]
        given = target.__annotations__
        if not given:
            return None
        params = [(n, given.get(n, inspect.Parameter.empty)) for n in names]
        return params, target.__globals__
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = [(p.name, p.annotation) for p in signature.parameters.values() if p.kind in positional]
    return params[:count], _module_of(fn)


def _module_of(fn: Callable[..., Any]) -> dict[str, Any]:
    """The globals a callable's annotations were written in (a decorated function's, a
    partial's function's, a callable object's ``__call__``'s), or ``{}``."""
    inner: Any = inspect.unwrap(fn)
    for candidate in (
        inner,
        getattr(inner, "__func__", None),
        getattr(inner, "func", None),  # functools.partial
        getattr(type(inner), "__call__", None),  # noqa: B004 - the method, not a test
    ):
        module = getattr(candidate, "__globals__", None)
        if isinstance(module, dict):
            return module
    return {}


def _admits(annotation: Any, value_type: type, module: dict[str, Any]) -> bool | None:
    """Whether ``annotation`` admits a ``value_type`` (``None``: cannot tell)."""
    if isinstance(annotation, typing.ForwardRef):  # a string inside a union
        annotation = annotation.__forward_arg__
    if isinstance(annotation, str):
        try:
            annotation = eval(annotation, module)  # the hook's own annotation, as mypy reads it
        except Exception:
            return _admits_by_name(annotation, value_type)
    if annotation is object or annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _admits(typing.get_args(annotation)[0], value_type, module)
    if origin in (typing.Union, types.UnionType):
        verdicts = [_admits(a, value_type, module) for a in typing.get_args(annotation)]
        if any(verdicts):
            return True
        return None if None in verdicts else False
    if annotation is None or annotation is type(None):
        return False
    if origin is None and isinstance(annotation, type):
        if getattr(annotation, "_is_protocol", False):
            return None  # a protocol: structural, not rtstate's to judge
        try:
            return issubclass(value_type, annotation)
        except TypeError:  # a class issubclass cannot use
            return None
    return None


def _admits_by_name(text: str, value_type: type) -> bool | None:
    """For a string annotation that does not evaluate (a name imported only for type
    checking): the names in it that are rtstate's transitions, ``Step`` or
    ``Transition`` decide; any other name means it cannot tell."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return None
    nodes = list(ast.walk(tree))
    qualifiers = {id(n.value) for n in nodes if isinstance(n, ast.Attribute)}
    names = {  # ``tr.TextAppended`` is TextAppended: the module path is no type
        node.attr if isinstance(node, ast.Attribute) else node.id
        for node in nodes
        if isinstance(node, ast.Attribute | ast.Name) and id(node) not in qualifiers
    }
    if names & {"Any", *(c.__name__ for c in value_type.__mro__)}:
        return True  # the type itself, a base of it (Transition, object), or Any
    if names - _KNOWN_NAMES - _TYPING_NAMES:
        return None  # a name of the user's own (an alias, a protocol): cannot tell
    return False if names & _KNOWN_NAMES else None


_KNOWN_NAMES: Final = frozenset(c.__name__ for c in (*TRANSITION_TYPES, Transition, Step))
_TYPING_NAMES: Final = frozenset({"None", "Optional", "Union"})


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return repr(annotation)


Hook = Callable[..., object]


class Plugins:
    """The registered plugins of one connection and their dispatch index.

    Raises:
        PluginError: at construction, for a malformed plugin; nothing is registered.
    """

    def __init__(self, plugins: Sequence[object] = ()) -> None:
        for plugin in plugins:
            _validate(plugin)
        self._plugins: list[object] = list(plugins)
        self._index: dict[type[Transition], list[tuple[object, Hook]]] = {}
        self._step_hooks: list[tuple[object, Hook]] = []
        self._hooks: dict[type[Transition], tuple[tuple[int, Hook], ...]] = {}
        """``_index`` for ``dispatch``'s fast loop: each hook with its place."""
        self.count = 0
        """How many plugins are attached (a plain attribute: read on every fold)."""
        self._rebuild()

    def _rebuild(self) -> None:
        index: dict[type[Transition], list[tuple[object, Hook]]] = {}
        step_hooks: list[tuple[object, Hook]] = []
        for plugin in self._plugins:
            for name, kind in _TRANSITION_HOOKS.items():
                fn = getattr(plugin, name, None)
                if fn is not None:
                    index.setdefault(kind, []).append((plugin, fn))
            on_step = getattr(plugin, "on_step", None)
            if on_step is not None:
                step_hooks.append((plugin, on_step))
        self._index = index
        self._step_hooks = step_hooks
        self._hooks = {
            kind: tuple((place, fn) for place, (_, fn) in enumerate(hooks))
            for kind, hooks in index.items()
        }
        self.count = len(self._plugins)

    @property
    def active(self) -> tuple[object, ...]:
        """The plugins still attached, in registration order."""
        return tuple(self._plugins)

    def detach(self, plugin: object) -> None:
        """Remove ``plugin`` (this very object, every time it was registered)."""
        kept = [p for p in self._plugins if p is not plugin]  # not ==: equal plugins differ
        if len(kept) != len(self._plugins):
            self._plugins = kept
            self._rebuild()

    def dispatch(self, step: Step, reraise: bool = False) -> Dispatched | None:
        """Call the hooks for ``step``'s transitions, then ``on_step``.

        Returns ``None`` when every hook returned ``None`` (the common case: nothing
        is allocated), else what the hooks returned and who failed. A plugin that
        raises, or returns something other than client events, is detached when
        this dispatch ends; its later hooks in this dispatch do not run. With
        ``reraise`` (``Config(plugin_errors="raise")``) a hook's exception propagates.

        A step of one transition and no ``on_step`` hook (nearly every received
        frame) takes a fast loop that only calls hooks while they return ``None``;
        the first one that returns something or raises hands its outcome to
        ``_dispatch_all``, the one plain loop every other step takes, which goes on
        from there.
        """
        transitions = step.transitions
        if len(transitions) != 1 or self._step_hooks:
            return self._dispatch_all(step, reraise)
        t = transitions[0]
        for place, fn in self._hooks.get(t.__class__, ()):
            try:
                result = fn(t, step)
            except Exception as exc:
                return self._dispatch_all(step, reraise, place, exc)
            if result is not None:
                return self._dispatch_all(step, reraise, place, _Returned(result))
        return None

    def _dispatch_all(
        self,
        step: Step,
        reraise: bool,
        done: int = 0,
        outcome: Exception | _Returned | None = None,
    ) -> Dispatched | None:
        """``dispatch`` as one loop over every hook call in order. The first ``done``
        calls already ran and returned ``None``; with ``outcome``, call ``done`` ran
        too, and returned (``_Returned``) or raised that."""
        found: Dispatched | None = None
        index = self._index
        calls = 0
        for t in step.transitions if index else ():
            for plugin, fn in index.get(t.__class__, ()):
                calls += 1
                if calls <= done:
                    continue
                if found is not None and found.failed_plugin(plugin):
                    continue
                try:
                    if calls == done + 1 and outcome is not None:
                        if isinstance(outcome, Exception):
                            raise outcome
                        result = outcome.value
                    else:
                        result = fn(t, step)
                    if result is not None:
                        found = found or Dispatched()
                        found.events.extend(_events(result))
                except Exception as exc:
                    found = found or Dispatched()
                    found.fail(plugin, exc, reraise)
        for plugin, fn in self._step_hooks:
            if found is not None and found.failed_plugin(plugin):
                continue
            try:
                result = fn(step)
                if result is not None:
                    found = found or Dispatched()
                    found.events.extend(_events(result))
            except Exception as exc:
                found = found or Dispatched()
                found.fail(plugin, exc, reraise)
        if found is not None:
            for plugin, _ in found.failed:
                self.detach(plugin)
        return found


class _Returned:
    """What a hook returned, handed from ``dispatch``'s fast loop to ``_dispatch_all``."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


class Dispatched:
    """What one dispatch collected: returned events, diagnostics, detached plugins."""

    __slots__ = ("diagnostics", "events", "failed")

    def __init__(self) -> None:
        self.events: list[ClientEvent] = []
        self.diagnostics: list[Diagnostic] = []
        self.failed: list[tuple[object, BaseException]] = []

    def failed_plugin(self, plugin: object) -> bool:
        """Whether ``plugin`` already failed in this dispatch (by identity)."""
        return any(p is plugin for p, _ in self.failed)

    def fail(self, plugin: object, exc: Exception, reraise: bool) -> None:
        """Record that ``plugin`` raised (or re-raise it, with ``reraise``)."""
        if reraise:
            raise exc
        self.failed.append((plugin, exc))
        self.diagnostics.append(
            Diagnostic(
                code="plugin_error",
                message=f"{type(plugin).__name__} raised {exc!r}; detached",
            )
        )


def _events(result: object) -> list[ClientEvent]:
    if result is None:
        return []
    if isinstance(result, ClientEvent):
        return [result]
    if isinstance(result, Iterable) and not isinstance(result, str | bytes):
        out = list(result)
        for e in out:
            if not isinstance(e, ClientEvent):
                raise PluginError(f"a hook returned {type(e).__name__}, not a client event")
        return out
    raise PluginError(f"a hook returned {type(result).__name__}, not client events")
