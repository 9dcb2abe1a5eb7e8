"""Where and how to dial: the URL, the query and the headers of the handshake.

OpenAI takes ``Authorization: Bearer <key>`` and ``?model=`` (or ``?call_id=`` to
join a WebRTC or SIP call); Azure OpenAI takes an ``api-key`` header and
``?deployment=`` / ``?api-version=``. The beta dialect also
needs ``OpenAI-Beta: realtime=v1``.

Secrets stay out of reprs, messages and logs: ``Endpoint``'s repr and every error
show headers and URLs redacted (``redacted_url`` drops the query), header names and
values are checked before anything is sent (a CR or LF in a key would otherwise
inject headers), and ``redacting_logger`` is the logger the ``websockets`` protocol
gets, so its DEBUG handshake lines never print a key.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs

from ..config import Dialect
from ..errors import LocalProtocolError

__all__ = [
    "AZURE_HOSTS",
    "BETA_HEADER",
    "GA_HOSTS",
    "Endpoint",
    "default_dialect",
    "dialect_of",
    "endpoint",
    "redacted_headers",
    "redacted_url",
    "redacting_logger",
]

BETA_HEADER = ("OpenAI-Beta", "realtime=v1")
AZURE_HOSTS = (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com")
GA_HOSTS = ("api.openai.com",)
"""Hosts that speak only the GA dialect now (OpenAI retired beta in May 2026)."""
_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}

SECRET_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "api-key", "x-api-key", "cookie", "openai-api-key"}
)
"""Header names whose values are never shown (compared lower-case)."""
_SUBPROTOCOL_KEY = re.compile(r"(openai-insecure-api-key\.)[^,\s]*", re.IGNORECASE)
_SECRET_PARAM = re.compile(r"key|token|secret|auth|sig", re.IGNORECASE)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 field-name
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # controls but HTAB
REDACTED: Final = "[redacted]"


def _redact_value(name: str, value: str) -> str:
    lowered = name.lower()
    if lowered in SECRET_HEADERS:
        return REDACTED
    if lowered == "sec-websocket-protocol":
        return _SUBPROTOCOL_KEY.sub(rf"\g<1>{REDACTED}", value)
    return value


def redacted_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """``headers`` with the values of secret ones replaced by ``[redacted]`` (and a
    key carried in ``Sec-WebSocket-Protocol`` cut out)."""
    return tuple((name, _redact_value(name, value)) for name, value in headers)


def redacted_url(url: str) -> str:
    """``url`` for a message or a log: the query dropped (it may carry a key, as
    Azure's ``?api-key=`` does), ``?...`` in its place; user info dropped too."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
    except ValueError:
        return "<an invalid URL>"
    return urlunsplit((parts.scheme, netloc, parts.path, "..." if parts.query else "", ""))


def _redacted_path(path: str) -> str:
    """A request target with the values of key-like query parameters redacted."""
    target, sep, query = path.partition("?")
    if not sep:
        return path
    pairs = parse_qsl(query, keep_blank_values=True)
    shown = [(k, REDACTED if _SECRET_PARAM.search(k) else v) for k, v in pairs]
    return f"{target}?{urlencode(shown)}"


class _RedactingLogger(logging.LoggerAdapter[logging.Logger]):
    """What ``websockets`` logs the handshake with: ``"> %s: %s"`` header lines get
    secret values redacted, ``"> GET %s HTTP/1.1"`` its key-like query values."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if args and isinstance(msg, str):
            if msg.endswith("%s: %s") and len(args) == 2:
                args = (args[0], _redact_value(str(args[0]), str(args[1])))
            elif msg.startswith(("> GET %s", "< GET %s")) and len(args) == 1:
                args = (_redacted_path(str(args[0])),)
        super().log(level, msg, *args, **kwargs)


def redacting_logger(name: str) -> logging.LoggerAdapter[logging.Logger]:
    """The logger ``name`` (e.g. ``"websockets.client"``) with secrets redacted
    from the handshake lines ``websockets`` writes at DEBUG."""
    return _RedactingLogger(logging.getLogger(name), {})


def check_header(name: str, value: str) -> None:
    """Raise unless ``name: value`` can be sent as one HTTP header line.

    Raises:
        LocalProtocolError: the name is not an HTTP token, or the value holds a CR,
            LF or another control character (which would inject headers). The
            message never shows a secret value.
    """
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise LocalProtocolError(f"{name!r} is not a valid HTTP header name")
    if not isinstance(value, str) or _BAD_VALUE.search(value):
        shown = "its value" if name.lower() in SECRET_HEADERS else repr(value)
        raise LocalProtocolError(
            f"header {name!r}: {shown} holds a CR, LF or another control character, "
            "which HTTP does not allow (nothing was sent)"
        )


def _headers_repr(headers: tuple[tuple[str, str], ...]) -> str:
    return repr(redacted_headers(headers))


@attrs.frozen
class Endpoint:
    """A resolved dial target. Its repr shows secret header values redacted and
    the URL without its query."""

    url: str = attrs.field(repr=redacted_url)
    host: str
    port: int
    secure: bool
    azure: bool
    headers: tuple[tuple[str, str], ...] = attrs.field(repr=_headers_repr)


def endpoint(
    url: str,
    *,
    api_key: str | None = None,
    headers: Mapping[str, str] | None = None,
    model: str | None = None,
    azure_deployment: str | None = None,
    api_version: str | None = None,
    beta_header: bool = True,
    call_id: str | None = None,
) -> Endpoint:
    """Resolve ``url`` and the options into the URL to dial and the headers to send.

    Azure is recognised by its host names or by ``azure_deployment``. Headers given
    explicitly replace the ones derived here (compared case-insensitively).
    ``call_id`` (an attached session: a WebRTC or SIP call to join) goes in the query
    as ``?call_id=``, beside ``model`` / ``deployment`` only if those are given, as
    openai-python's ``realtime.connect(call_id=...)`` does.

    Raises:
        LocalProtocolError: the URL is not ws://, wss://, http:// or https://, or has
            no host; the API key or a header holds a character HTTP does not allow.
    """
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        parts, hostname = urlsplit(""), None
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None or not hostname:
        raise LocalProtocolError(
            f"cannot connect to {redacted_url(url)!r}: expected a ws:// or wss:// URL"
        )
    if api_key is not None and (not isinstance(api_key, str) or _BAD_VALUE.search(api_key)):
        raise LocalProtocolError(
            "the API key holds a CR, LF or another control character, which HTTP does "
            "not allow (a stray newline from a file or an environment variable?); "
            "nothing was sent"
        )
    host = hostname
    azure = azure_deployment is not None or host.lower().endswith(AZURE_HOSTS)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if azure:
        if azure_deployment is not None:
            query["deployment"] = azure_deployment
        if api_version is not None:
            query["api-version"] = api_version
    elif model is not None:
        query["model"] = model
    if call_id is not None:
        query["call_id"] = call_id
    derived: list[tuple[str, str]] = []
    if api_key is not None:
        derived.append(("api-key", api_key) if azure else ("Authorization", f"Bearer {api_key}"))
    if beta_header:
        derived.append(BETA_HEADER)
    given = dict(headers or {})
    overridden = {name.lower() for name in given}
    final = [(k, v) for k, v in derived if k.lower() not in overridden] + list(given.items())
    for name, value in final:
        check_header(name, value)
    secure = scheme == "wss"
    port = parts.port or (443 if secure else 80)
    path = parts.path or "/"
    dial = urlunsplit((scheme, parts.netloc, path, urlencode(query), ""))
    return Endpoint(
        url=dial, host=host, port=port, secure=secure, azure=azure, headers=tuple(final)
    )


def default_dialect(url: str, configured: Dialect) -> Dialect:
    """The dialect to speak to ``url`` when the caller did not name one: GA for the
    hosts in ``GA_HOSTS``, ``configured`` elsewhere."""
    host = (urlsplit(url).hostname or "").lower()
    return "ga" if host in GA_HOSTS else configured


def dialect_of(headers: Mapping[str, str]) -> Dialect:
    """The dialect a client asked for in its handshake: beta with
    ``OpenAI-Beta: realtime=v1`` (as the real service chose), GA without."""
    value = headers.get(BETA_HEADER[0], "")
    return "beta" if BETA_HEADER[1] in value.replace(" ", "").split(",") else "ga"
