"""Where and how to dial: the URL, the query and the headers of the handshake.

OpenAI takes ``Authorization: Bearer <key>`` and ``?model=``; Azure OpenAI takes an
``api-key`` header and ``?deployment=`` / ``?api-version=``. The beta dialect also
needs ``OpenAI-Beta: realtime=v1``.
"""

from __future__ import annotations

from collections.abc import Mapping
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
]

BETA_HEADER = ("OpenAI-Beta", "realtime=v1")
AZURE_HOSTS = (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com")
GA_HOSTS = ("api.openai.com",)
"""Hosts that speak only the GA dialect now (OpenAI retired beta in May 2026)."""
_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}


@attrs.frozen
class Endpoint:
    """A resolved dial target."""

    url: str
    host: str
    port: int
    secure: bool
    azure: bool
    headers: tuple[tuple[str, str], ...]


def endpoint(
    url: str,
    *,
    api_key: str | None = None,
    headers: Mapping[str, str] | None = None,
    model: str | None = None,
    azure_deployment: str | None = None,
    api_version: str | None = None,
    beta_header: bool = True,
) -> Endpoint:
    """Resolve ``url`` and the options into the URL to dial and the headers to send.

    Azure is recognised by its host names or by ``azure_deployment``. Headers given
    explicitly replace the ones derived here (compared case-insensitively).

    Raises:
        LocalProtocolError: the URL is not ws://, wss://, http:// or https://, or has
            no host.
    """
    parts = urlsplit(url)
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.hostname:
        raise LocalProtocolError(f"cannot connect to {url!r}: expected a ws:// or wss:// URL")
    host = parts.hostname
    azure = azure_deployment is not None or host.lower().endswith(AZURE_HOSTS)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if azure:
        if azure_deployment is not None:
            query["deployment"] = azure_deployment
        if api_version is not None:
            query["api-version"] = api_version
    elif model is not None:
        query["model"] = model
    derived: list[tuple[str, str]] = []
    if api_key is not None:
        derived.append(("api-key", api_key) if azure else ("Authorization", f"Bearer {api_key}"))
    if beta_header:
        derived.append(BETA_HEADER)
    given = dict(headers or {})
    overridden = {name.lower() for name in given}
    final = [(k, v) for k, v in derived if k.lower() not in overridden] + list(given.items())
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
