"""A `requests` transport adapter that has every request signed by the
keyward agent before it is sent, so a bot built on requests never holds a
secret:

    import requests
    from keyward.requests_adapter import KeywardAdapter

    session = requests.Session()
    session.mount("https://api.binance.com/", KeywardAdapter("binance-main"))
    session.get("https://api.binance.com/api/v3/account")

The request goes to the agent as requests prepared it (method, URL,
headers, body); the agent's answer replaces the URL, headers and body, and
Content-Length is set again for the new body. The adapter signs: forward
mode (the agent sends the request itself) needs an agent with the
``forward`` operation, which this protocol version does not have yet.

This module imports requests, which keyward itself does not depend on:
import it only where requests is installed (``pip install keyward[requests]``).
"""

from __future__ import annotations

from typing import Any, Optional

try:
    from requests.adapters import HTTPAdapter
    from requests.structures import CaseInsensitiveDict
except ImportError as e:  # pragma: no cover - exercised without requests
    raise ImportError(
        "keyward.requests_adapter needs the requests package (pip install requests, "
        "or apt install python3-requests); keyward.Client works without it"
    ) from e

from .client import Client
from .errors import BadRequestError

# Headers that describe the body or the connection rather than the
# request: the agent has no use for them and they change with the body.
_HOP_HEADERS = frozenset(("content-length", "host", "connection", "transfer-encoding"))


class KeywardAdapter(HTTPAdapter):
    """Signs each request with ``credential`` through the agent, then sends it.

    ``client`` is a :class:`keyward.Client` to share (one per process is
    plenty: it is thread-safe and pipelined); without one, the adapter
    makes its own for ``socket_path`` ($KEYWARD_SOCK or the default).
    Keyword arguments beyond those go to :class:`requests.adapters.HTTPAdapter`.
    """

    def __init__(
        self,
        credential: str,
        client: Optional[Client] = None,
        socket_path: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        if not credential:
            raise ValueError("KeywardAdapter needs a credential name (see `keyward list`)")
        self.credential = credential
        self._own_client = client is None
        self.client = client if client is not None else Client(socket_path)
        super().__init__(**kwargs)

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        body = request.body
        if body is not None and not isinstance(body, (str, bytes, bytearray)):
            raise BadRequestError(
                "keyward: a streamed or file request body cannot be signed: pass the body as str or bytes"
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        signed = self.client.sign(self.credential, request.method, request.url, headers, body)
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

    def close(self) -> None:
        super().close()
        if self._own_client:
            self.client.close()
