"""The keyward wire format (protocol/SPEC.md), shared by the threaded and
the asyncio clients: the socket path rules, frames, request arguments, the
signed-request and the forwarded-response types. It does no I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import struct
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Union

from .errors import BadRequestError, ProtocolError

#: The protocol version this client speaks.
PROTOCOL_VERSION = 1
#: The largest frame body either side may send (1 MiB).
MAX_FRAME = 1 << 20
#: The environment variable naming the socket, as SSH_AUTH_SOCK does.
SOCKET_ENV = "KEYWARD_SOCK"

_HEADER = struct.Struct(">I")


def default_socket_path(uid: Optional[int] = None, runtime_dir: Optional[str] = None) -> str:
    """The agent's socket path without the ``KEYWARD_SOCK`` override.

    The same rules as protocol/socket.go: ``/run/keyward/agent.sock`` for
    root, ``$XDG_RUNTIME_DIR/keyward/agent.sock`` for other users, else
    ``$TMPDIR/keyward-UID/agent.sock`` (``/tmp`` when TMPDIR is unset).
    """
    if uid is None:
        uid = os.getuid()
    if runtime_dir is None:
        runtime_dir = os.environ.get("XDG_RUNTIME_DIR", "")
    if uid == 0:
        return "/run/keyward/agent.sock"
    if runtime_dir:
        return os.path.join(runtime_dir, "keyward", "agent.sock")
    return os.path.join(os.environ.get("TMPDIR") or "/tmp", "keyward-%d" % uid, "agent.sock")


def socket_path() -> str:
    """``$KEYWARD_SOCK`` if set, else :func:`default_socket_path`."""
    return os.environ.get(SOCKET_ENV) or default_socket_path()


def encode_request(req_id: int, op: str, args: Optional[Mapping[str, Any]]) -> bytearray:
    """One request frame: a 4-byte big-endian length, then the JSON body.

    The frame is a bytearray so a caller that sent a secret in it can zero
    it (best effort: the str this builds it from cannot be wiped). JSON is written without escapes for ASCII (a secret is a plain
    base64 string, which the agent requires unescaped).
    """
    msg: Dict[str, Any] = {"id": req_id, "op": op}
    if args is not None:
        msg["args"] = args
    body = json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise BadRequestError(
            "keyward: the %s request is %d bytes, over the protocol's %d-byte frame limit"
            % (op, len(body), MAX_FRAME)
        )
    frame = bytearray(_HEADER.pack(len(body)))
    frame += body
    return frame


def frame_length(header: bytes) -> int:
    """The body length a frame header announces, checked against the limit."""
    (n,) = _HEADER.unpack(header)
    if n == 0 or n > MAX_FRAME:
        raise ProtocolError("keyward: the agent sent a frame of %d bytes (limit %d)" % (n, MAX_FRAME))
    return n


def decode_reply(body: bytes) -> Dict[str, Any]:
    """Parses a reply body and checks its envelope."""
    try:
        msg = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ProtocolError("keyward: the agent sent a malformed reply: %s" % e) from None
    if not isinstance(msg, dict) or not isinstance(msg.get("id"), int) or isinstance(msg.get("id"), bool):
        raise ProtocolError("keyward: the agent sent a reply without a numeric id")
    return msg


def b64(secret: Union[str, bytes, bytearray]) -> str:
    """Standard base64 with padding, as secrets travel on the wire."""
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    return base64.b64encode(bytes(secret)).decode("ascii")


@dataclass(frozen=True)
class SignedRequest:
    """A request exactly as it must be sent, in the shape of ccxt's sign()."""

    method: str
    url: str
    headers: Dict[str, str] = field(default_factory=dict)
    body: str = ""

    @classmethod
    def from_result(cls, result: Any) -> "SignedRequest":
        if not isinstance(result, dict) or not isinstance(result.get("url"), str):
            raise ProtocolError("keyward: the agent's sign reply has no url")
        headers = result.get("headers") or {}
        body = result.get("body") or ""
        if not isinstance(headers, dict) or not isinstance(body, str):
            raise ProtocolError("keyward: the agent's sign reply is malformed")
        return cls(method=str(result.get("method", "")), url=result["url"], headers=dict(headers), body=body)

    def as_dict(self) -> Dict[str, Any]:
        return {"method": self.method, "url": self.url, "headers": dict(self.headers), "body": self.body}


@dataclass(frozen=True)
class ForwardResponse:
    """The venue's answer to a forwarded request (the ``forward`` result).

    ``body`` is the body's bytes as the venue sent them (the agent does not
    undo a ``Content-Encoding``: a caller that sends ``Accept-Encoding``
    decodes the body itself). ``headers`` joins a repeated field with
    ``", "``, ``Set-Cookie`` with a newline; :meth:`header` looks a field up
    whatever its case. A venue's own error (a 400, a 429) is a response like
    any other: check ``status``.
    """

    status: int
    headers: Dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def from_result(cls, result: Any) -> "ForwardResponse":
        if not isinstance(result, dict):
            raise ProtocolError("keyward: the agent's forward reply is not an object")
        status = result.get("status")
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 999:
            raise ProtocolError("keyward: the agent's forward reply has no valid status")
        headers = result.get("headers") or {}
        text = result.get("body") or ""
        encoding = result.get("body_encoding") or ""
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()) or not isinstance(text, str):
            raise ProtocolError("keyward: the agent's forward reply is malformed")
        if encoding == "base64":
            try:
                body = base64.b64decode(text.encode("ascii"), validate=True)
            except (binascii.Error, UnicodeEncodeError):
                raise ProtocolError("keyward: the agent sent a forwarded body that is not base64") from None
        elif encoding == "":
            body = text.encode("utf-8")
        else:
            raise ProtocolError("keyward: the agent sent a body_encoding this client does not know: %r" % encoding[:32])
        return cls(status=status, headers={str(k): v for k, v in headers.items()}, body=body)

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The value of the header field name, compared without case."""
        want = name.lower()
        for k, v in self.headers.items():
            if k.lower() == want:
                return v
        return default

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        """The body as text, in the Content-Type's charset (UTF-8 without
        one); undecodable bytes are replaced."""
        charset = "utf-8"
        for part in (self.header("Content-Type") or "").split(";")[1:]:
            k, _, v = part.strip().partition("=")
            if k.strip().lower() == "charset" and v.strip():
                charset = v.strip().strip('"')
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def json(self, **kwargs: Any) -> Any:
        """The body parsed as JSON (ValueError if it is not JSON)."""
        return json.loads(self.body, **kwargs)


def request_args(
    credential: str,
    method: str,
    url: str,
    headers: Optional[Mapping[str, str]] = None,
    body: Union[str, bytes, None] = None,
    op: str = "sign",
) -> Dict[str, Any]:
    """The args of a ``sign`` (or ``forward``) request."""
    if not credential:
        raise BadRequestError("keyward: %s needs a credential name" % op)
    args: Dict[str, Any] = {"credential": credential, "method": method.upper(), "url": url}
    if headers:
        args["headers"] = {str(k): str(v) for k, v in headers.items()}
    if body:
        if isinstance(body, (bytes, bytearray)):
            try:
                body = bytes(body).decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequestError("keyward: the request body must be UTF-8 text to be %s" % (
                    "signed" if op == "sign" else "forwarded")) from None
        args["body"] = body
    return args


#: What a client waits for a forward reply beyond the timeout it gave the
#: agent, so that the agent's own answer (an UpstreamError that says
#: whether the request was sent) arrives before the client gives up.
FORWARD_GRACE = 5.0

# The operations whose frames carry a secret: zeroed after the write.
SECRET_OPS = frozenset(("unlock", "add", "passwd", "rotate"))


def forward_args(
    credential: str,
    method: str,
    url: str,
    headers: Optional[Mapping[str, str]] = None,
    body: Union[str, bytes, None] = None,
    timeout: Optional[float] = None,
) -> Dict[str, Any]:
    """The args of a ``forward`` request; timeout (seconds) becomes
    ``timeout_ms``, which bounds the agent's exchange with the venue."""
    args = request_args(credential, method, url, headers, body, op="forward")
    if timeout is not None:
        if timeout <= 0:
            raise BadRequestError("keyward: a forward timeout must be positive, not %r" % (timeout,))
        args["timeout_ms"] = max(1, int(math.ceil(timeout * 1000)))
    return args


#: The verify modes of ``add`` (protocol/SPEC.md).
VERIFY_MODES = ("auto", "on", "off")


def add_args(
    name: str,
    scheme: str,
    api_key: str,
    secret: Union[str, bytes, bytearray],
    passphrase: Union[str, bytes, bytearray, None] = None,
    meta: Optional[Mapping[str, str]] = None,
    verify: Optional[str] = None,
    allow_withdraw_permission: bool = False,
) -> Dict[str, Any]:
    args: Dict[str, Any] = {"name": name, "scheme": scheme, "api_key": api_key, "secret": b64(secret)}
    if passphrase:
        args["passphrase"] = b64(passphrase)
    if meta:
        args["meta"] = dict(meta)
    if verify:
        if verify not in VERIFY_MODES:
            raise BadRequestError("keyward: verify is %r: want one of %s" % (verify, ", ".join(VERIFY_MODES)))
        args["verify"] = verify
    if allow_withdraw_permission:
        args["allow_withdraw_permission"] = True
    return args


def wipe(buf: Optional[bytearray]) -> None:
    """Overwrites a frame that carried a secret."""
    if buf is not None:
        buf[:] = bytes(len(buf))  # same length: overwritten in place
