"""keyward: a standard-library-only client for the keyward agent.

A trading bot asks the agent, over a Unix socket, to sign its exchange
requests, or to send them itself (forward mode); it never holds an API
secret. The protocol is protocol/SPEC.md in the keyward repository.

    import keyward

    with keyward.Client() as kw:            # $KEYWARD_SOCK or the default socket
        signed = kw.sign("binance-main", "GET",
                         "https://api.binance.com/api/v3/account")
        # send signed.method, signed.url, signed.headers, signed.body
        r = kw.forward("alpaca-paper", "GET",
                       "https://paper-api.alpaca.markets/v2/account")
        print(r.status, r.json())

Errors are typed by the agent's error code: ``LockedError``,
``DeniedError``, ``UnknownCredentialError``, ``ForwardOnlyError``,
``UpstreamError``, ... all subclasses of
``KeywardError`` with a ``code`` attribute. ``keyward.aio`` has the asyncio
client; ``keyward.requests_adapter`` a transport adapter for requests.
"""

from .client import Client
from .errors import (
    CODES,
    AgentUnreachableError,
    AlreadyUnlockedError,
    BadFrameError,
    BadRequestError,
    BusyError,
    ClientClosedError,
    ConnectionLostError,
    DeniedError,
    ExistsError,
    ForwardOnlyError,
    InternalError,
    KeywardError,
    KeywardTimeoutError,
    LockedError,
    MemlockError,
    NoVaultError,
    ProtocolError,
    UnknownCredentialError,
    UnsupportedError,
    UpstreamError,
    VaultError,
    WrongPassphraseError,
)
from .wire import PROTOCOL_VERSION, ForwardResponse, SignedRequest, default_socket_path, socket_path

__version__ = "0.1.0"

__all__ = [
    "CODES",
    "PROTOCOL_VERSION",
    "AgentUnreachableError",
    "AlreadyUnlockedError",
    "BadFrameError",
    "BadRequestError",
    "BusyError",
    "Client",
    "ClientClosedError",
    "ConnectionLostError",
    "DeniedError",
    "ExistsError",
    "ForwardOnlyError",
    "ForwardResponse",
    "InternalError",
    "KeywardError",
    "KeywardTimeoutError",
    "LockedError",
    "MemlockError",
    "NoVaultError",
    "ProtocolError",
    "SignedRequest",
    "UnknownCredentialError",
    "UnsupportedError",
    "UpstreamError",
    "VaultError",
    "WrongPassphraseError",
    "default_socket_path",
    "socket_path",
]
