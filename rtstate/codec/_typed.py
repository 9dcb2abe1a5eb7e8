"""Typed decoders: one msgspec pass reads a frame into records, built into events in one step.

The reference decode (``_dialect.make_codec``) parses a frame with orjson into dicts,
then the strict cattrs converter walks them into the event classes. Here msgspec reads
the frame straight into mirror records (``msgspec.Struct``, one per class, generated
from the class's fields; the events form a union tagged by ``type``) and a generated
builder per class (the record's ``_build`` method) fills the attrs object: it makes an
instance of a writable subclass (``rtstate._build.writable_subclass``: no slot of its
own, plain attribute writes, four times cheaper than a slot descriptor's call), writes
every field, then gives the object its own frozen class. (msgspec can fill an attrs
class itself, but each field a frame leaves out costs it more than the whole build.)
Same values, a fraction of the work.

The typed decoder only ever gives the value the reference gives; for anything else it
steps aside. Whatever msgspec refuses (an unknown ``type``, a missing field, a wrong
type, bad JSON) and whatever a builder raises goes to the reference decode, which then
returns the ``UnknownServerEvent`` or raises the ``RemoteProtocolError`` it always did
(same message, same field path). Where msgspec and the reference could read the same
text differently, the field is not read by msgspec: free-form JSON (``Mapping`` fields,
unions other than ``MaxTokens``, tool configs) and the payloads a dialect translates with
no ``Reshape`` are kept as ``msgspec.Raw`` and built by orjson and the reference's own
cattrs hook (a JSON ``null`` there is read as ``None`` without them where the hook reads
it so). A closed set (``Literal``) is read as any string, as the reference reads it; a
``Reshape`` reads a translated payload typed, its own keys and paths included (GA's
content parts, session, response object and response parameters). Integers are
bounded to the range orjson reads as integers (beyond it orjson gives a float, msgspec
an int); bytes that are not ASCII are checked as UTF-8
before msgspec reads them (it does not check the fields it skips).

Null against absent follows the reference's rules: a required field must be present
(``null`` only where its type admits ``None``); a field defaulting to ``None`` reads
absent and ``null`` alike; any other default is taken when the field is absent, and a
``null`` there is read by the field's type (``None`` for an ``UNSET``-able field, an
error for a field that admits no ``None``).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Literal, get_args, get_origin

import attrs
import cattrs
import msgspec
import orjson

from .._build import writable_subclass
from ..events.payloads import LITERALS, MaxTokens, Unset

__all__ = ["Reshape", "typed_decoder"]

Builder = Callable[[Any], Any]
_Int = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
"""Integers msgspec can bound (int64): orjson reads a larger one as a float, msgspec as
an int, and a uint64 beyond int64 is left to the reference."""
_SIMPLE: Mapping[Any, Any] = {
    str: str,
    int: _Int,
    bool: bool,
    float: float,
    **dict.fromkeys(LITERALS, str),  # a closed set decodes as any string, as the reference
    MaxTokens: _Int | Literal["inf"],
}
_NONE = type(None)
_ABSENT: Any = msgspec.UNSET
_RAW_ABSENT: Any = msgspec.Raw()
_NULL = msgspec.Raw(b"null")
_loads = orjson.loads


def _null_is_none(build: Builder | None) -> bool:
    """Whether a raw field's reference hook reads a JSON ``null`` as ``None``."""
    try:
        return build is not None and build(_NULL) is None
    except Exception:
        return False


def _parts(tp: Any) -> tuple[Any, bool, bool]:
    """``(inner type, admits None, admits UNSET)`` of a field type."""
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = get_args(tp)
        rest = tuple(a for a in args if a is not _NONE and a is not Unset)
        inner = rest[0] if len(rest) == 1 else typing.Union[rest]  # noqa: UP007
        return inner, _NONE in args, Unset in args
    return tp, False, False


class _Each:
    """The builder of a tuple of records: ``build`` on each (inlined by ``_make``)."""

    __slots__ = ("build",)

    def __init__(self, build: Builder) -> None:
        self.build = build

    def __call__(self, values: Iterable[Any]) -> tuple[Any, ...]:
        return tuple(map(self.build, values))


@attrs.frozen
class Reshape:
    """How a dialect spells a payload class its converters translate, for a typed read.

    The frame's ``fields`` (names of the class's fields, spelled as the class spells
    them) are read as those fields, by the same rules as an untranslated class's; the
    class's fields in neither ``fields`` nor ``paths`` take their defaults. Each must
    give what the converter's hook gives. ``renamed`` maps a string field to the
    dialect's values that read as another value (the rest read as they are).

    ``paths`` maps a field the dialect writes elsewhere to its keys from the top of the
    payload (``("audio", "input", "format")``): read there with the field's own rules
    for ``null`` and absent (an absent or ``null`` object on the way reads as if the
    key were absent, as ``dict.get`` chains do). ``read`` maps a field the dialect
    spells otherwise to ``(msgspec type, translate)``: the value read as that type
    (``None`` included if the type admits it) is ``translate(value)``; absent, the
    field's default.
    """

    fields: frozenset[str]
    renamed: Mapping[str, Mapping[str, str | None]] = types.MappingProxyType({})
    paths: Mapping[str, tuple[str, ...]] = types.MappingProxyType({})
    read: Mapping[str, tuple[Any, Callable[[Any], Any]]] = types.MappingProxyType({})


class _Mirrors:
    """The mirror records and builders of one dialect's classes, made on demand."""

    def __init__(
        self, converter: cattrs.Converter, raw: Iterable[type], reshape: Mapping[type, Reshape]
    ) -> None:
        self._converter = converter
        self._raw = frozenset(raw) - set(reshape)
        self._reshape = reshape
        self._records: dict[type, type] = {}
        self._builders: dict[type, Builder] = {}

    def field(self, tp: Any) -> tuple[Any, Builder | None]:
        """The msgspec type a field of type ``tp`` (not None, not UNSET) is read as, and
        the function that turns what msgspec gives into the field's value (None: as is)."""
        simple = _SIMPLE.get(tp)
        if simple is not None:
            return simple, None
        if attrs.has(tp) and tp not in self._raw:
            return self.record(tp), self._builders[tp]
        args = get_args(tp)
        if get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis:
            elem, build = self.field(args[0])
            if build is None:
                return tuple[elem, ...], None  # type: ignore[valid-type]
            return tuple[elem, ...], _Each(build)  # type: ignore[valid-type]
        return msgspec.Raw, self._by_reference(tp)

    def _by_reference(self, tp: Any) -> Builder:
        """Raw JSON read by orjson and the reference's hook for ``tp``."""
        hook = self._converter.get_structure_hook(tp)
        return lambda raw: hook(_loads(bytes(raw)), tp)

    def record(self, cls: type) -> type:
        """The mirror record of an attrs class (its builder is ``self._builders[cls]``)."""
        record = self._records.get(cls)
        if record is None:
            record, builder = self._make(cls, tag=None)
            self._records[cls] = record
            self._builders[cls] = builder
        return record

    def event(self, cls: type, tag: str) -> tuple[type, Builder]:
        """The mirror record of an event class under its wire ``tag``, and its builder."""
        return self._make(cls, tag=tag)

    def _make(self, cls: type, tag: str | None) -> tuple[type, Builder]:
        attrs.resolve_types(cls)
        reshape = self._reshape.get(cls)
        fields: list[tuple[str, Any, Any]] = []
        ns: dict[str, Any] = {
            "_new": object.__new__,
            "_cls": cls,
            "_A": _ABSENT,
            "_NULL": _NULL,
            "_tuple": tuple,
            "_map": map,
        }
        writable = writable_subclass(cls)
        ns["_W"] = writable

        def put(n: int, name: str, value: str) -> str:
            """The line that sets field ``name`` (number ``n``) of the new object."""
            if writable is not None:
                return f"    r.{name} = {value}"
            ns[f"_s{n}"] = getattr(cls, name).__set__
            return f"    _s{n}(r, {value})"

        lines = ["def build(m):", "    r = _new(_cls)" if writable is None else "    r = _W()"]
        # the records of the objects a path goes through: keys -> [(field, type, default)]
        nested: dict[tuple[str, ...], list[tuple[str, Any, Any]]] = {}
        parents: dict[tuple[str, ...], str] = {}  # keys -> the builder's local holding it

        def parent(keys: tuple[str, ...]) -> str:
            """The local that holds the object at ``keys`` (None: absent or null)."""
            name = parents.get(keys)
            if name is None:
                name = parents[keys] = f"p{len(parents)}"
                if len(keys) == 1:
                    nested.setdefault(keys, [])
                    lines.insert(2, f"    {name} = m.{keys[0]}")
                else:
                    up = parent(keys[:-1])
                    nested.setdefault(keys, [])
                    nested[keys[:-1]].append((keys[-1], keys, None))
                    at = lines.index(next(x for x in lines if x.startswith(f"    {up} ="))) + 1
                    lines.insert(at, f"    {name} = {up}.{keys[-1]} if {up} is not None else None")
            return name

        def place(name: str, spec: tuple[Any, Any]) -> str:
            """Add the record field that reads field ``name``: where the dialect writes
            it; the expression that gives what was read (or the absent default)."""
            keys = reshape.paths.get(name) if reshape is not None else None
            if keys is None:
                fields.append((name, *spec))
                return f"m.{name}"
            if len(keys) == 1:
                fields.append((keys[0], *spec))
                return f"m.{keys[0]}"
            if spec[1] is msgspec.NODEFAULT:  # pragma: no cover - no such field
                raise TypeError(f"{cls.__name__}.{name}: a required field on a path")
            up = parent(keys[:-1])
            nested[keys[:-1]].append((keys[-1], *spec))
            absent = f"_v{len(ns)}"
            ns[absent] = spec[1]
            return f"({up}.{keys[-1]} if {up} is not None else {absent})"

        renamed = reshape.renamed if reshape is not None else {}
        for n, a in enumerate(attrs.fields(cls)):
            if isinstance(a.default, attrs.Factory):  # type: ignore[arg-type]
                raise TypeError(f"{cls.__name__}.{a.name}: factories are not supported")
            if reshape is not None and a.name in reshape.read:
                tp, translate = reshape.read[a.name]
                source = place(a.name, (tp | msgspec.UnsetType, _ABSENT))
                ns[f"_d{n}"], ns[f"_t{n}"] = a.default, translate
                lines.append(f"    v = {source}")
                lines.append(f"    v = _d{n} if v is _A else _t{n}(v)")
                lines.append(put(n, a.name, "v"))
                continue
            if reshape is not None and a.name not in reshape.fields | set(reshape.paths):
                if a.default is attrs.NOTHING:  # pragma: no cover - no such field
                    raise TypeError(f"{cls.__name__}.{a.name}: a required field left out")
                ns[f"_d{n}"] = a.default
                lines.append(put(n, a.name, f"_d{n}"))
                continue
            inner, nullable, unsettable = _parts(a.type)
            if unsettable:
                nullable = True
            if inner is not a.type and not nullable:  # pragma: no cover - no such field
                raise TypeError(f"{cls.__name__}.{a.name}: unsupported type {a.type!r}")
            read, build = self.field(inner)
            required = a.default is attrs.NOTHING
            raw = read is msgspec.Raw
            if raw:
                # the reference's hook takes the whole type (null included) and the
                # default stands for "absent": an empty Raw
                build = self._by_reference(a.type)
                source = place(
                    a.name, (msgspec.Raw, msgspec.NODEFAULT if required else _RAW_ABSENT)
                )
            else:
                if nullable:
                    read = read | None
                if required:
                    source = place(a.name, (read, msgspec.NODEFAULT))
                elif a.default is None and nullable:
                    source = place(a.name, (read, None))
                else:
                    source = place(a.name, (read | msgspec.UnsetType, _ABSENT))
            defaulted = not required and not (a.default is None and nullable and not raw)
            if a.name in renamed:
                if build is not None or defaulted or raw:  # pragma: no cover - no such field
                    raise TypeError(f"{cls.__name__}.{a.name}: only a plain field is renamed")
                ns[f"_r{n}"] = renamed[a.name]
                lines.append(f"    v = {source}")
                lines.append(put(n, a.name, f"_r{n}.get(v, v)"))
                continue
            if build is None and not defaulted:
                lines.append(put(n, a.name, source))  # as read
                continue
            lines.append(f"    v = {source}")
            branch = "if"
            if defaulted:
                ns[f"_d{n}"] = a.default
                absent = "not v" if raw else "v is _A"
                lines.append(f"    if {absent}: v = _d{n}")
                branch = "elif"
            if raw and _null_is_none(build):
                # a JSON null the reference reads as None, without parsing it
                lines.append(f"    {branch} v == _NULL: v = None")
                branch = "elif"
            if isinstance(build, _Each):
                # built in place, no call to a tuple builder; an empty tuple (or None)
                # kept as read, one or two elements built without a map (a map calls
                # the builder from C, four times the cost of a call from here)
                ns[f"_b{n}"] = build.build
                b = f"_b{n}"
                lines.append(f"    {branch} v:")
                lines.append("        k = len(v)")
                lines.append(f"        if k == 1: v = ({b}(v[0]),)")
                lines.append(f"        elif k == 2: v = ({b}(v[0]), {b}(v[1]))")
                lines.append(f"        else: v = _tuple(_map({b}, v))")
            elif build is not None:
                ns[f"_b{n}"] = build
                call = f"_b{n}(v)"
                if nullable and not raw:
                    lines.append(f"    {branch} v is not None: v = {call}")
                else:
                    prefix = "    else: " if branch == "elif" else "    "
                    lines.append(f"{prefix}v = {call}")
            lines.append(put(n, a.name, "v"))
        if writable is not None:
            lines.append("    r.__class__ = _cls")
        lines.append("    return r")
        exec("\n".join(lines), ns)
        # a record holds only what msgspec read (no cycle can form) and lives for one
        # frame: not tracked by the garbage collector (no allocation counts toward a pass)
        options: dict[str, Any] = {"kw_only": True, "gc": False}
        if tag is not None:
            options.update(tag=tag, tag_field="type")
        # the builder is also the record's ``_build`` method: an event's record builds
        # itself, with no lookup by class on the way
        options["namespace"] = {"_build": ns["build"]}
        # the objects on the paths, innermost first: each read as a record or None
        made: dict[tuple[str, ...], type] = {}
        for keys in sorted(nested, key=len, reverse=True):
            specs = [
                (key, made[tp] | None, None) if isinstance(tp, tuple) else (key, tp, default)
                for key, tp, default in nested[keys]
            ]
            name = f"{cls.__name__}{''.join(k.title() for k in keys)}Record"
            made[keys] = msgspec.defstruct(name, specs, kw_only=True, gc=False)
        fields += [(keys[0], made[keys] | None, None) for keys in made if len(keys) == 1]
        record = msgspec.defstruct(f"{cls.__name__}Record", fields, **options)
        return record, typing.cast("Builder", ns["build"])


def typed_decoder(
    tags: Mapping[str, type],
    converter: cattrs.Converter,
    reference: Callable[[str | bytes], Any],
    raw: Iterable[type] = (),
    reshape: Mapping[type, Reshape] | None = None,
) -> Callable[[str | bytes], Any]:
    """A decode function for the events of ``tags`` (wire ``type`` -> class) that gives
    what ``reference`` gives, and calls ``reference`` for every frame it does not read.

    ``converter`` is the reference's fast cattrs converter (its hooks read the fields kept
    as raw JSON); ``raw`` lists the payload classes the dialect translates with hooks of
    its own, read through ``converter`` as a whole, unless ``reshape`` says how to read
    them typed.
    """
    mirrors = _Mirrors(converter, raw, reshape or {})
    builders: dict[type, Builder] = {}
    for tag, cls in tags.items():
        if any(a.name == "type" for a in attrs.fields(cls)):  # pragma: no cover
            continue  # the tag's own field: such an event is left to the reference
        record, build = mirrors.event(cls, tag)
        builders[record] = build
    decode_record = msgspec.json.Decoder(typing.Union[tuple(builders)]).decode  # noqa: UP007

    def decode(frame: str | bytes) -> Any:
        try:
            # msgspec does not check the UTF-8 of what it skips or keeps raw: bytes that
            # are not ASCII are checked (and read) as text first
            text = frame if isinstance(frame, str) or frame.isascii() else frame.decode()
            return decode_record(text)._build()
        except Exception:
            return reference(frame)

    return decode
