"""Typed errors for the keyward protocol's error codes.

The agent answers a failed request with a stable code and a message a
person can act on; :func:`error_from_wire` turns that into the exception
class for the code. A code this client does not know is treated as
``internal`` (as protocol/SPEC.md asks) but keeps the code it was sent.
No message ever carries a secret: the agent never puts one in an error,
and this client never adds one.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Type


class KeywardError(Exception):
    """An error from the keyward agent or from talking to it.

    ``code`` is the protocol's stable error code (``locked``, ``denied``,
    ...) or, for failures on this side of the socket, one of the client
    codes ``unreachable``, ``connection_lost``, ``protocol``, ``closed`` and
    ``timeout``. ``message`` is for people and may change.
    """

    code = "internal"

    def __init__(self, message: str, code: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return "%s(code=%r, message=%r)" % (type(self).__name__, self.code, self.message)


class BadFrameError(KeywardError):
    """The agent could not read a frame (size or JSON); it closed the connection."""

    code = "bad_frame"


class BadRequestError(KeywardError):
    """A field is missing or wrong; the message says which."""

    code = "bad_request"


class UnsupportedError(KeywardError):
    """The agent does not support this operation or scheme (see ``hello``)."""

    code = "unsupported"


class LockedError(KeywardError):
    """The agent is locked: the owner runs ``keyward unlock``."""

    code = "locked"


class AlreadyUnlockedError(KeywardError):
    """``unlock`` was asked of an unlocked agent."""

    code = "already_unlocked"


class DeniedError(KeywardError):
    """This peer may not do this (uid, host, policy); the message says why."""

    code = "denied"


class UnknownCredentialError(KeywardError):
    """No credential of that name: see ``keyward list``."""

    code = "unknown_credential"


class ExistsError(KeywardError):
    """A credential of that name exists already."""

    code = "exists"


class WrongPassphraseError(KeywardError):
    """The passphrase does not open the vault."""

    code = "wrong_passphrase"


class NoVaultError(KeywardError):
    """There is no vault yet: run ``keyward init``."""

    code = "no_vault"


class VaultError(KeywardError):
    """The vault file is damaged, tampered with, exposed or newer."""

    code = "vault"


class MemlockError(KeywardError):
    """The agent cannot lock more memory for secrets."""

    code = "memlock"


class ForwardOnlyError(KeywardError):
    """The credential's venue receives the secret itself on every request
    (Alpaca's secret key, OANDA's and other bearer tokens), so the agent will
    not hand a signed request to the bot: use ``forward`` instead of
    ``sign``. ``hello`` marks such schemes ``"forward_only": true``."""

    code = "forward_only"


class UpstreamError(KeywardError):
    """A forwarded request got no complete answer from the venue: it could
    not be reached, TLS was refused, it timed out, or its response was too
    large. The message says whether the request had been sent, in which
    case the venue may have acted on it: check (e.g. the open orders) before
    sending an order again. A venue's own HTTP error (a 400, a 429) is not
    this error but a normal response."""

    code = "upstream"


class BusyError(KeywardError):
    """The agent is at its connection limit; retry later."""

    code = "busy"


class InternalError(KeywardError):
    """Anything else; details are in the agent's log."""

    code = "internal"


class AgentUnreachableError(KeywardError):
    """No agent answered at the socket path."""

    code = "unreachable"

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class ConnectionLostError(KeywardError):
    """The connection to the agent broke while a request was in flight."""

    code = "connection_lost"


class ProtocolError(KeywardError):
    """The agent sent something this client cannot read."""

    code = "protocol"


class ClientClosedError(KeywardError):
    """The client was closed."""

    code = "closed"


class KeywardTimeoutError(KeywardError, TimeoutError):
    """No reply arrived within the timeout."""

    code = "timeout"


# The protocol's codes (protocol/errors.go), each to its class.
CODES: Dict[str, Type[KeywardError]] = {
    "bad_frame": BadFrameError,
    "bad_request": BadRequestError,
    "unsupported": UnsupportedError,
    "locked": LockedError,
    "already_unlocked": AlreadyUnlockedError,
    "denied": DeniedError,
    "unknown_credential": UnknownCredentialError,
    "exists": ExistsError,
    "wrong_passphrase": WrongPassphraseError,
    "no_vault": NoVaultError,
    "vault": VaultError,
    "memlock": MemlockError,
    "forward_only": ForwardOnlyError,
    "upstream": UpstreamError,
    "busy": BusyError,
    "internal": InternalError,
}


def error_from_wire(err: Any) -> KeywardError:
    """Builds the typed exception for a reply's ``error`` object."""
    if not isinstance(err, dict):
        return ProtocolError("keyward: the agent sent a malformed error: %r" % (err,))
    code = err.get("code")
    message = err.get("message")
    if not isinstance(code, str) or not code:
        code = "internal"
    if not isinstance(message, str) or not message:
        message = "the agent reported %s" % code
    cls = CODES.get(code, InternalError)
    return cls(message, code)
