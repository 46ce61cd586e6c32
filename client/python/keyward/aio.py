"""The asyncio keyward client: the same operations as :class:`keyward.Client`
as coroutines, pipelined on one connection per client.

    async with keyward.aio.AsyncClient() as kw:
        signed = await kw.sign("binance-main", "GET", "https://api.binance.com/api/v3/account")
        r = await kw.forward("alpaca-paper", "GET", "https://paper-api.alpaca.markets/v2/account")

A reader task matches replies to waiting futures by id, so any number of
tasks may await calls at once. If the connection breaks, calls in flight
fail and the next call dials again. A client belongs to the event loop it
first ran in.
"""

from __future__ import annotations

import asyncio
import itertools
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


class _AsyncConn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.pending: Dict[int, "asyncio.Future[Any]"] = {}
        self.error: Optional[KeywardError] = None
        self.drain_lock = asyncio.Lock()
        self.task = asyncio.ensure_future(self._read_loop())

    async def _read_loop(self) -> None:
        try:
            while True:
                n = wire.frame_length(await self.reader.readexactly(4))
                msg = wire.decode_reply(await self.reader.readexactly(n))
                rid = msg["id"]
                err = msg.get("error")
                if rid == 0 and err is not None:
                    raise error_from_wire(err)
                fut = self.pending.pop(rid, None)
                if fut is None or fut.done():
                    continue
                if err is not None:
                    fut.set_exception(error_from_wire(err))
                else:
                    result = msg.get("result")
                    fut.set_result(result if result is not None else {})
        except KeywardError as e:
            self.shutdown(e)
        except asyncio.IncompleteReadError:
            self.shutdown(ConnectionLostError("keyward: the agent closed the connection"))
        except (OSError, asyncio.CancelledError) as e:
            self.shutdown(ConnectionLostError("keyward: connection to the agent lost: %s" % (e or "cancelled")))

    def shutdown(self, err: KeywardError) -> None:
        if self.error is None:
            self.error = err
        pending, self.pending = self.pending, {}
        self.writer.close()
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(self.error)


class AsyncClient:
    """An asyncio connection to a keyward agent; see :class:`keyward.Client`."""

    def __init__(self, path: Optional[str] = None, *, timeout: Optional[float] = 30.0, connect_timeout: float = 5.0) -> None:
        self.path = path or wire.socket_path()
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._cur: Optional[_AsyncConn] = None
        self._closed = False
        self._ids = itertools.count(1)
        self._dial_lock: Optional[asyncio.Lock] = None

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        cur, self._cur = self._cur, None
        if cur is not None:
            cur.shutdown(ClientClosedError("keyward: client closed"))
            cur.task.cancel()
            try:
                await cur.task
            except (asyncio.CancelledError, Exception):
                pass

    async def _conn(self) -> _AsyncConn:
        if self._dial_lock is None:
            self._dial_lock = asyncio.Lock()
        async with self._dial_lock:
            if self._closed:
                raise ClientClosedError("keyward: client closed")
            if self._cur is not None and self._cur.error is None:
                return self._cur
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_unix_connection(self.path, limit=wire.MAX_FRAME + 4), self.connect_timeout
                )
            except (OSError, asyncio.TimeoutError) as e:
                reason = getattr(e, "strerror", None) or str(e) or "timed out"
                raise AgentUnreachableError(
                    "cannot reach the keyward agent at %s: %s (is `keyward agent` running? is KEYWARD_SOCK right?)"
                    % (self.path, reason),
                    self.path,
                ) from None
            self._cur = _AsyncConn(reader, writer)
            return self._cur

    async def call(self, op: str, args: Optional[Mapping[str, Any]] = None, timeout: Optional[float] = -1.0) -> Any:
        """Sends one request and returns its result, or raises its typed error.

        timeout is in seconds; a negative one (the default) means the
        client's timeout, None none at all."""
        if timeout is not None and timeout < 0:
            timeout = self.timeout
        cn = await self._conn()
        req_id = next(self._ids)
        frame = wire.encode_request(req_id, op, args)
        fut: "asyncio.Future[Any]" = asyncio.get_running_loop().create_future()
        if cn.error is not None:
            wire.wipe(frame)
            raise cn.error
        cn.pending[req_id] = fut
        try:
            # A copy: the transport may keep what it is given past drain()
            # (Python 3.12 queues memoryviews), and frame is zeroed below.
            # The copy cannot be wiped; like the str the frame was built
            # from, it stays until collected.
            cn.writer.write(bytes(frame))
            async with cn.drain_lock:
                await cn.writer.drain()
        except OSError as e:
            cn.shutdown(ConnectionLostError("keyward: send to the agent: %s" % e))
        finally:
            if op in wire.SECRET_OPS:
                wire.wipe(frame)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            cn.pending.pop(req_id, None)
            raise KeywardTimeoutError("keyward: no reply from the agent within %gs" % timeout) from None

    async def hello(self, client: str = "keyward-python-asyncio") -> Dict[str, Any]:
        return await self.call("hello", {"version": wire.PROTOCOL_VERSION, "client": client})

    async def status(self) -> Dict[str, Any]:
        return await self.call("status")

    async def list(self) -> List[Dict[str, Any]]:
        return list((await self.call("list")).get("credentials") or [])

    async def sign(
        self,
        credential: str,
        method: str,
        url: str,
        headers: Optional[Mapping[str, str]] = None,
        body: Union[str, bytes, None] = None,
    ) -> SignedRequest:
        args = wire.request_args(credential, method, url, headers, body)
        return SignedRequest.from_result(await self.call("sign", args))

    async def forward(
        self,
        credential: str,
        method: str,
        url: str,
        headers: Optional[Mapping[str, str]] = None,
        body: Union[str, bytes, None] = None,
        timeout: Optional[float] = -1.0,
    ) -> ForwardResponse:
        """Has the agent send the request and returns the venue's response;
        see :meth:`keyward.Client.forward`. timeout is in seconds: negative
        (the default) means the client's, None none (the agent's default)."""
        if timeout is not None and timeout < 0:
            timeout = self.timeout
        args = wire.forward_args(credential, method, url, headers, body, timeout)
        wait = None if timeout is None else min(timeout, 120.0) + wire.FORWARD_GRACE
        return ForwardResponse.from_result(await self.call("forward", args, wait))

    async def unlock(self, passphrase: Union[str, bytes, bytearray]) -> Dict[str, Any]:
        return await self.call("unlock", {"passphrase": wire.b64(passphrase)}, timeout=None)

    async def lock(self) -> None:
        await self.call("lock")

    async def add(
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
        """Adds a credential; see :meth:`keyward.Client.add`."""
        args = wire.add_args(name, scheme, api_key, secret, passphrase, meta, verify, allow_withdraw_permission)
        wait: Optional[float] = self.timeout
        if verify in ("auto", "on") and wait is not None:
            wait += 35.0  # the agent may ask the venue, for up to 30 s
        return await self.call("add", args, wait)

    async def remove(self, name: str) -> None:
        await self.call("remove", {"name": name})

    async def passwd(self, passphrase: Union[str, bytes, bytearray], new_passphrase: Union[str, bytes, bytearray]) -> None:
        await self.call("passwd", {"passphrase": wire.b64(passphrase), "new_passphrase": wire.b64(new_passphrase)}, timeout=None)
