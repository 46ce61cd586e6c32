"""A `requests` transport adapter that has the keyward agent sign every
request before it is sent, or send it itself (forward mode), so a bot built
on requests never holds a secret:

    import requests
    from keyward.requests_adapter import KeywardAdapter

    session = requests.Session()
    session.mount("https://api.binance.com/", KeywardAdapter("binance-main"))
    session.get("https://api.binance.com/api/v3/account")

The request goes to the agent as requests prepared it (method, URL,
headers, body). ``mode`` says what the agent does with it, as the Go
client's Transport does:

- ``"auto"`` (the default) signs, except with credentials whose venue
  receives the secret itself on every request (Alpaca, OANDA, bearer
  tokens): the agent refuses to sign those (``forward_only``), and the
  adapter forwards instead and remembers, so later requests go straight to
  forward mode.
- ``"sign"``: the agent's answer replaces the URL, headers and body,
  Content-Length is set again for the new body, and the adapter sends the
  request itself like requests' own adapter.
- ``"forward"``: the agent sends the request and the adapter makes a
  ``requests.Response`` of the venue's answer (status, headers, body, url,
  request); nothing goes to the network from the bot, and the bot never
  holds a signature or a key header that could be replayed.

In forward mode the agent, not the bot, decides how the venue is reached:
``verify``, ``cert`` and ``proxies`` are not used (the agent verifies TLS
against the system roots or the credential's ``ca_file``, and uses a proxy
only when the credential's ``proxy`` names one); ``timeout`` (a number, or
requests' (connect, read) pair, summed) becomes the agent's ``timeout_ms``
(default: the client's timeout). The agent follows no redirect; requests
follows a 3xx as usual, and the agent refuses a host that is not the
credential's. Cookies the venue sets are not stored in the session (the
agent does not pass a bot's Cookie header on). When the venue gives no
complete answer the adapter raises :class:`UpstreamConnectionError`, which
is both a :class:`keyward.UpstreamError` and a
``requests.exceptions.ConnectionError``; the agent's other errors
(``LockedError``, ``DeniedError``, ...) are raised as they are.

This module imports requests, which keyward itself does not depend on:
import it only where requests is installed (``pip install keyward[requests]``).
"""

from __future__ import annotations

import http.client
import io
import numbers
import threading
from typing import Any, Optional

try:
    from requests.adapters import HTTPAdapter
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.structures import CaseInsensitiveDict
    from urllib3._collections import HTTPHeaderDict
    from urllib3.response import HTTPResponse
except ImportError as e:  # pragma: no cover - exercised without requests
    raise ImportError(
        "keyward.requests_adapter needs the requests package (pip install requests, "
        "or apt install python3-requests); keyward.Client works without it"
    ) from e

from .client import Client
from .errors import BadRequestError, ForwardOnlyError, UpstreamError
from .wire import ForwardResponse

#: The adapter's modes: see the module's documentation.
MODES = ("auto", "sign", "forward")

# Headers that describe the body or the connection rather than the
# request: the agent has no use for them and they change with the body.
_HOP_HEADERS = frozenset(("content-length", "host", "connection", "transfer-encoding"))


class UpstreamConnectionError(UpstreamError, RequestsConnectionError):
    """A forwarded request got no complete answer from the venue: a
    :class:`keyward.UpstreamError` (its message says whether the request
    was sent) that is also a ``requests.exceptions.ConnectionError``, so
    code written for requests catches it where it catches a failed
    connection."""

    def __init__(self, message: str, code: Optional[str] = None, request: Any = None) -> None:
        UpstreamError.__init__(self, message, code)
        self.request = request
        self.response = None


class KeywardAdapter(HTTPAdapter):
    """Has each request signed (or sent) by the agent with ``credential``.

    ``client`` is a :class:`keyward.Client` to share (one per process is
    plenty: it is thread-safe and pipelined); without one, the adapter
    makes its own for ``socket_path`` ($KEYWARD_SOCK or the default).
    ``mode`` is ``"auto"`` (default), ``"sign"`` or ``"forward"`` (see the
    module's documentation). Keyword arguments beyond those go to
    :class:`requests.adapters.HTTPAdapter`.
    """

    def __init__(
        self,
        credential: str,
        client: Optional[Client] = None,
        socket_path: Optional[str] = None,
        mode: str = "auto",
        **kwargs: Any,
    ) -> None:
        if not credential:
            raise ValueError("KeywardAdapter needs a credential name (see `keyward list`)")
        if mode not in MODES:
            raise ValueError("KeywardAdapter: mode is %r: want one of %s" % (mode, ", ".join(MODES)))
        self.credential = credential
        self.mode = mode
        self._forward_only = threading.Event()  # auto mode learnt that the credential is forward-only
        self._own_client = client is None
        self.client = client if client is not None else Client(socket_path)
        super().__init__(**kwargs)

    @property
    def forwarding(self) -> bool:
        """Whether requests go to the agent to be sent (forward mode, or
        auto mode once the agent said the credential is forward-only)."""
        return self.mode == "forward" or (self.mode == "auto" and self._forward_only.is_set())

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        body = request.body
        if body is not None and not isinstance(body, (str, bytes, bytearray)):
            raise BadRequestError(
                "keyward: a streamed or file request body cannot be signed or forwarded: pass the body as str or bytes"
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        if self.forwarding:
            return self._forward(request, headers, body, kwargs.get("timeout"))
        try:
            signed = self.client.sign(self.credential, request.method, request.url, headers, body)
        except ForwardOnlyError:
            if self.mode != "auto":
                raise
            self._forward_only.set()
            return self._forward(request, headers, body, kwargs.get("timeout"))
        out = request.copy()
        out.method = signed.method
        out.url = signed.url
        merged = CaseInsensitiveDict(request.headers)
        merged.pop("Content-Length", None)
        merged.update(signed.headers)
        out.headers = merged
        out.body = signed.body.encode("utf-8") if signed.body else None
        out.prepare_content_length(out.body)
        return super().send(out, **kwargs)

    def _forward(self, request: Any, headers: Any, body: Any, timeout: Any) -> Any:
        seconds = _seconds(timeout)
        try:
            if seconds is None:
                res = self.client.forward(self.credential, request.method, request.url, headers, body)
            else:
                res = self.client.forward(self.credential, request.method, request.url, headers, body, timeout=seconds)
        except UpstreamError as e:
            raise UpstreamConnectionError(e.message, e.code, request=request) from None
        return self.build_response(request, _raw_response(request, res))

    def close(self) -> None:
        super().close()
        if self._own_client:
            self.client.close()


def _seconds(timeout: Any) -> Optional[float]:
    """requests' timeout as one number of seconds, or None for the client's."""
    if timeout is None:
        return None
    if isinstance(timeout, tuple):
        parts = [float(t) for t in timeout if t is not None]
        return sum(parts) if parts else None
    if isinstance(timeout, numbers.Real):
        return float(timeout)
    total = getattr(timeout, "total", None)  # urllib3's Timeout
    if isinstance(total, numbers.Real):
        return float(total)
    parts = [t for t in (getattr(timeout, "connect_timeout", None), getattr(timeout, "read_timeout", None))
             if isinstance(t, numbers.Real)]
    return float(sum(parts)) if parts else None


def _raw_response(request: Any, res: ForwardResponse) -> HTTPResponse:
    """The agent's answer as the urllib3 response requests' own adapter
    would have had, so that requests builds the Response as it always does
    (headers, encoding, reason, and a Content-Encoding undone on reading)."""
    headers = HTTPHeaderDict()
    for k, v in res.headers.items():
        if k.lower() == "set-cookie":
            for c in v.split("\n"):
                headers.add(k, c)
        else:
            headers.add(k, v)
    return HTTPResponse(
        body=io.BytesIO(res.body),
        headers=headers,
        status=res.status,
        version=11,
        reason=http.client.responses.get(res.status, ""),
        preload_content=False,
        decode_content=True,
        original_response=None,
        request_method=request.method,
        enforce_content_length=False,  # the agent read the body whole
    )
