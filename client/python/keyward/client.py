"""The threaded keyward client: one Unix socket, many requests in flight.

A :class:`Client` is safe to share between threads. Each call writes its
frame under a lock and waits on a future; one reader thread per connection
reads replies and hands each to the caller whose id it carries, so replies
may come back in any order (pipelining). If the connection breaks, calls in
flight fail with :class:`ConnectionLostError` (or the agent's own reason)
and the next call dials again.
"""

from __future__ import annotations

import itertools
import socket
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Dict, List, Mapping, Optional, Union

from . import wire
from .errors import (
    AgentUnreachableError,
    ClientClosedError,
    ConnectionLostError,
    KeywardError,
    KeywardTimeoutError,
    error_from_wire,
)
from .wire import ForwardResponse, SignedRequest

#: "Use the client's timeout" (None means no timeout at all).
_DEFAULT: Any = object()


class _Conn:
    """One socket and the calls waiting on it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.wlock = threading.Lock()  # serialises frame writes
        self.lock = threading.Lock()  # guards pending and error
        self.pending: Dict[int, "Future[Any]"] = {}
        self.error: Optional[KeywardError] = None
        self.done = threading.Event()
        self.reader = threading.Thread(target=self._read_loop, name="keyward-reader", daemon=True)
        self.reader.start()

    def alive(self) -> bool:
        with self.lock:
            return self.error is None

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = self.sock.recv_into(view[got:])
            if k == 0:
                raise ConnectionLostError("keyward: the agent closed the connection")
            got += k
        return bytes(buf)

    def _read_loop(self) -> None:
        try:
            while True:
                n = wire.frame_length(self._recv_exact(4))
                msg = wire.decode_reply(self._recv_exact(n))
                rid = msg["id"]
                err = msg.get("error")
                if rid == 0 and err is not None:
                    # An error about the connection itself; the agent closes it.
                    raise error_from_wire(err)
                with self.lock:
                    fut = self.pending.pop(rid, None)
                if fut is None:
                    continue  # a reply to a call that gave up waiting
                if err is not None:
                    fut.set_exception(error_from_wire(err))
                else:
                    result = msg.get("result")
                    fut.set_result(result if result is not None else {})
        except KeywardError as e:
            self.shutdown(e)
        except OSError as e:
            self.shutdown(ConnectionLostError("keyward: connection to the agent lost: %s" % e))
        finally:
            self.done.set()

    def shutdown(self, err: KeywardError) -> None:
        """Closes the socket and fails every waiting call with err."""
        with self.lock:
            if self.error is None:
                self.error = err
            pending, self.pending = self.pending, {}
            err = self.error
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader
        except OSError:
            pass
        self.sock.close()
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(err)


class Client:
    """A connection to a keyward agent.

    ``path`` defaults to ``$KEYWARD_SOCK`` or the standard location (see
    :func:`keyward.wire.socket_path`). ``timeout`` bounds each call in
    seconds (None waits for ever). The socket is dialled at the first call,
    or at once with ``connect=True``; use the client as a context manager
    or call :meth:`close`.
    """

    def __init__(
        self,
        path: Optional[str] = None,
        *,
        timeout: Optional[float] = 30.0,
        connect_timeout: float = 5.0,
        connect: bool = False,
    ) -> None:
        self.path = path or wire.socket_path()
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._mu = threading.Lock()  # guards _cur and _closed
        self._cur: Optional[_Conn] = None
        self._closed = False
        self._ids = itertools.count(1)
        self._ids_mu = threading.Lock()
        if connect:
            self._conn()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "keyward.Client(%r)" % self.path

    def close(self) -> None:
        """Closes the connection; calls in flight fail with ClientClosedError."""
        with self._mu:
            self._closed = True
            cur, self._cur = self._cur, None
        if cur is not None:
            cur.shutdown(ClientClosedError("keyward: client closed"))

    def _conn(self) -> _Conn:
        with self._mu:
            if self._closed:
                raise ClientClosedError("keyward: client closed")
            if self._cur is not None and self._cur.alive():
                return self._cur
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.connect_timeout)
            try:
                sock.connect(self.path)
            except OSError as e:
                sock.close()
                raise AgentUnreachableError(
                    "cannot reach the keyward agent at %s: %s (is `keyward agent` running? is KEYWARD_SOCK right?)"
                    % (self.path, e.strerror or e),
                    self.path,
                ) from None
            sock.settimeout(None)
            self._cur = _Conn(sock)
            return self._cur

    def submit(self, op: str, args: Optional[Mapping[str, Any]] = None) -> "Future[Any]":
        """Sends a request without waiting; the future holds its result.

        This is the pipelining primitive: submit many, then collect.
        """
        cn = self._conn()
        with self._ids_mu:
            req_id = next(self._ids)
        frame = wire.encode_request(req_id, op, args)
        fut: "Future[Any]" = Future()
        with cn.lock:
            if cn.error is not None:
                err = cn.error
                wire.wipe(frame)
                raise err
            cn.pending[req_id] = fut
        fut.keyward_id = req_id  # type: ignore[attr-defined]
        fut.keyward_conn = cn  # type: ignore[attr-defined]
        try:
            with cn.wlock:
                cn.sock.sendall(frame)
        except OSError as e:
            # The agent may have said why before closing (a refused peer, a
            # bad frame): let the reader deliver that rather than EPIPE.
            cn.done.wait(1.0)
            cn.shutdown(ConnectionLostError("keyward: send to the agent: %s" % e))
        finally:
            if op in wire.SECRET_OPS:
                wire.wipe(frame)
        return fut

    def wait(self, fut: "Future[Any]", timeout: Optional[float] = _DEFAULT) -> Any:
        """Waits for a submitted request's result (timeout None: for ever)."""
        if timeout is _DEFAULT:
            timeout = self.timeout
        try:
            return fut.result(timeout)
        except FutureTimeout:
            cn = getattr(fut, "keyward_conn", None)
            if cn is not None:
                with cn.lock:
                    cn.pending.pop(getattr(fut, "keyward_id", -1), None)
            raise KeywardTimeoutError("keyward: no reply from the agent within %gs" % timeout) from None

    def call(self, op: str, args: Optional[Mapping[str, Any]] = None, timeout: Optional[float] = _DEFAULT) -> Any:
        """Sends one request and returns its result (a dict), or raises the
        typed error for the agent's error code."""
        return self.wait(self.submit(op, args), timeout)

    # The operations of protocol/SPEC.md.

    def hello(self, client: str = "keyward-python") -> Dict[str, Any]:
        """What the agent speaks: version, operations, schemes."""
        return self.call("hello", {"version": wire.PROTOCOL_VERSION, "client": client})

    def status(self) -> Dict[str, Any]:
        """Locked or not, credential count, uptime, locked memory."""
        return self.call("status")

    def list(self) -> List[Dict[str, Any]]:
        """The credentials' public parts, sorted by name (works while locked)."""
        return list(self.call("list").get("credentials") or [])

    def sign(
        self,
        credential: str,
        method: str,
        url: str,
        headers: Optional[Mapping[str, str]] = None,
        body: Union[str, bytes, None] = None,
        timeout: Optional[float] = _DEFAULT,
    ) -> SignedRequest:
        """The request exactly as it must be sent, signed with credential."""
        args = wire.request_args(credential, method, url, headers, body)
        return SignedRequest.from_result(self.call("sign", args, timeout))

    def forward(
        self,
        credential: str,
        method: str,
        url: str,
        headers: Optional[Mapping[str, str]] = None,
        body: Union[str, bytes, None] = None,
        timeout: Optional[float] = _DEFAULT,
    ) -> ForwardResponse:
        """Has the agent send the request itself with credential's
        authentication added, and returns the venue's response.

        The bot never holds a signature, a key header or a secret. The URL
        must be https to one of the credential's hosts; the agent follows no
        redirect (a 3xx comes back as it came). A venue's own error (a 400, a
        429) is a :class:`ForwardResponse` like any other, not an exception.

        ``timeout`` (seconds; default the client's) bounds the agent's whole
        exchange with the venue: it goes to the agent as ``timeout_ms`` (the
        agent caps it at 120 s), and this call waits a few seconds longer
        for the agent's answer. None waits for ever and lets the agent use
        its own default (30 s). Raises :class:`UpstreamError` when the venue
        gave no complete answer (its message says whether the request was
        sent), and the agent's other typed errors.
        """
        if timeout is _DEFAULT:
            timeout = self.timeout
        args = wire.forward_args(credential, method, url, headers, body, timeout)
        wait = None if timeout is None else min(timeout, 120.0) + wire.FORWARD_GRACE
        return ForwardResponse.from_result(self.call("forward", args, wait))

    # The owner's operations. The frame that carried a secret is zeroed
    # after the write, best effort: the base64 text and the JSON str built
    # on the way are immutable and stay on the heap until collected,
    # whatever type the secret was passed as.

    def unlock(self, passphrase: Union[str, bytes, bytearray]) -> Dict[str, Any]:
        return self.call("unlock", {"passphrase": wire.b64(passphrase)}, timeout=None)

    def lock(self) -> None:
        self.call("lock")

    def add(
        self,
        name: str,
        scheme: str,
        api_key: str,
        secret: Union[str, bytes, bytearray],
        passphrase: Union[str, bytes, bytearray, None] = None,
        meta: Optional[Mapping[str, str]] = None,
        *,
        verify: Optional[str] = None,
        allow_withdraw_permission: bool = False,
    ) -> Dict[str, Any]:
        """Adds a credential. verify is "auto", "on" or "off" (None: the
        agent's default, off): whether the agent asks the venue what the key
        may do before keeping it; a key that can withdraw or transfer is
        refused unless allow_withdraw_permission."""
        args = wire.add_args(name, scheme, api_key, secret, passphrase, meta, verify, allow_withdraw_permission)
        wait: Optional[float] = self.timeout
        if verify in ("auto", "on") and wait is not None:
            wait += 35.0  # the agent may ask the venue, for up to 30 s
        return self.call("add", args, wait)

    def remove(self, name: str) -> None:
        self.call("remove", {"name": name})

    def passwd(self, passphrase: Union[str, bytes, bytearray], new_passphrase: Union[str, bytes, bytearray]) -> None:
        self.call("passwd", {"passphrase": wire.b64(passphrase), "new_passphrase": wire.b64(new_passphrase)}, timeout=None)
