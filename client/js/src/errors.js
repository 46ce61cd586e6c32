// Typed errors for the keyward protocol's error codes (protocol/SPEC.md).
// The agent's messages never carry a secret, and neither do these.

/** An error from the keyward agent or from talking to it. */
export class KeywardError extends Error {
  /**
   * @param {string} message for people; may change
   * @param {string} [code] the stable code (`locked`, `denied`, …) or a client code
   */
  constructor(message, code) {
    super(message);
    this.name = new.target.name;
    /** @type {string} */
    this.code = code ?? new.target.code ?? 'internal';
  }
}

const define = (name, code) => {
  const cls = { [name]: class extends KeywardError {} }[name];
  cls.code = code;
  return cls;
};

export const BadFrameError = define('BadFrameError', 'bad_frame');
export const BadRequestError = define('BadRequestError', 'bad_request');
export const UnsupportedError = define('UnsupportedError', 'unsupported');
export const LockedError = define('LockedError', 'locked');
export const AlreadyUnlockedError = define('AlreadyUnlockedError', 'already_unlocked');
export const DeniedError = define('DeniedError', 'denied');
export const UnknownCredentialError = define('UnknownCredentialError', 'unknown_credential');
export const ExistsError = define('ExistsError', 'exists');
export const WrongPassphraseError = define('WrongPassphraseError', 'wrong_passphrase');
export const NoVaultError = define('NoVaultError', 'no_vault');
export const VaultError = define('VaultError', 'vault');
export const MemlockError = define('MemlockError', 'memlock');
// sign with a credential whose venue receives the secret itself on every
// request (Alpaca, OANDA, bearer tokens): use forward.
export const ForwardOnlyError = define('ForwardOnlyError', 'forward_only');
// A forwarded request got no complete answer from the venue (unreachable,
// TLS, timeout, too large); the message says whether it had been sent. A
// venue's own HTTP error is a response, not this.
export const UpstreamError = define('UpstreamError', 'upstream');
export const BusyError = define('BusyError', 'busy');
export const InternalError = define('InternalError', 'internal');
// Failures on this side of the socket.
export const AgentUnreachableError = define('AgentUnreachableError', 'unreachable');
export const ConnectionLostError = define('ConnectionLostError', 'connection_lost');
export const ProtocolError = define('ProtocolError', 'protocol');
export const ClientClosedError = define('ClientClosedError', 'closed');
export const TimeoutError = define('TimeoutError', 'timeout');

/** The protocol's codes, each to its class. */
export const CODES = Object.freeze({
  bad_frame: BadFrameError,
  bad_request: BadRequestError,
  unsupported: UnsupportedError,
  locked: LockedError,
  already_unlocked: AlreadyUnlockedError,
  denied: DeniedError,
  unknown_credential: UnknownCredentialError,
  exists: ExistsError,
  wrong_passphrase: WrongPassphraseError,
  no_vault: NoVaultError,
  vault: VaultError,
  memlock: MemlockError,
  forward_only: ForwardOnlyError,
  upstream: UpstreamError,
  busy: BusyError,
  internal: InternalError,
});

/**
 * The typed error for a reply's `error` object. An unknown code is treated
 * as `internal`, as SPEC.md asks, but keeps the code it was sent.
 * @param {unknown} err
 * @returns {KeywardError}
 */
export function errorFromWire(err) {
  if (err === null || typeof err !== 'object') {
    return new ProtocolError('keyward: the agent sent a malformed error');
  }
  let { code, message } = /** @type {{code?: unknown, message?: unknown}} */ (err);
  if (typeof code !== 'string' || code === '') code = 'internal';
  if (typeof message !== 'string' || message === '') message = `the agent reported ${code}`;
  const Cls = Object.hasOwn(CODES, /** @type {string} */ (code)) ? CODES[code] : InternalError;
  return new Cls(/** @type {string} */ (message), /** @type {string} */ (code));
}
