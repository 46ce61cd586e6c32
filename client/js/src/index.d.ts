// Types for keyward, the Node.js client of the keyward agent (protocol/SPEC.md).
/// <reference types="node" />

export const PROTOCOL_VERSION: 1;
export const MAX_FRAME: number;
export const PLACEHOLDER_API_KEY: string;
export const PLACEHOLDER_SECRET: string;
export const PLACEHOLDER_PASSWORD: string;

/** A request in the shape of ccxt's sign() result. */
export interface HTTPRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

/** The request exactly as it must be sent. */
export interface SignedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface SchemeInfo {
  name: string;
  hosts: string[];
  operations: string[];
  key_types: string[];
  passphrase: 'none' | 'optional' | 'required';
  clear_secrets?: string[];
  websocket?: boolean;
  /** The agent refuses sign with this scheme (ForwardOnlyError): use forward. */
  forward_only?: boolean;
  meta?: Record<string, string>;
}

/** The venue's answer to a forwarded request. */
export class ForwardResponse {
  constructor(status: number, headers: Record<string, string>, body: Buffer);
  /** Decodes the agent's forward result (body_encoding "base64" or UTF-8 text). */
  static fromResult(result: unknown): ForwardResponse;
  status: number;
  /** A repeated field joined with ", " (Set-Cookie with a newline). */
  headers: Record<string, string>;
  /** The body's bytes as the venue sent them (a Content-Encoding is not undone). */
  body: Buffer;
  /** True for a 2xx status. */
  readonly ok: boolean;
  /** A header's value, compared without case. */
  header(name: string): string | undefined;
  /** The body as text, in the Content-Type's charset (UTF-8 without one). */
  text(): string;
  /** The body parsed as JSON. */
  json(): any;
}

export interface HelloResult {
  version: number;
  agent: string;
  operations: string[];
  schemes: SchemeInfo[];
}

export interface StatusResult {
  version: string;
  locked: boolean;
  vault_present: boolean;
  credentials: number;
  uptime_seconds: number;
  unlocked_at?: string;
  lock_after?: string;
  lock_idle?: string;
  memlock_bytes: number;
  memlock_limit: number;
}

export interface CredentialInfo {
  name: string;
  scheme: string;
  api_key: string;
  meta?: Record<string, string>;
  created: string;
  rotated: string;
  version: number;
}

type SecretInput = string | Uint8Array;

export class Client {
  /** @param socket default $KEYWARD_SOCK or the standard location; timeouts in ms (0: none) */
  constructor(socket?: string, opts?: { timeout?: number; connectTimeout?: number });
  readonly path: string;
  /** Sends one request; resolves with its result or rejects with its typed error. */
  call(op: string, args?: object, opts?: { timeout?: number }): Promise<any>;
  hello(client?: string): Promise<HelloResult>;
  status(): Promise<StatusResult>;
  list(): Promise<CredentialInfo[]>;
  sign(credential: string, req: HTTPRequest): Promise<SignedRequest>;
  /**
   * The agent sends the request with the credential's authentication and
   * resolves with the venue's response (a venue's 4xx is a response).
   * timeout (ms, default the client's; 0: the agent's default) goes to the
   * agent as timeout_ms. Rejects with UpstreamError when the venue gave no
   * complete answer.
   */
  forward(credential: string, req: HTTPRequest, opts?: { timeout?: number }): Promise<ForwardResponse>;
  unlock(passphrase: SecretInput): Promise<{ credentials: number }>;
  lock(): Promise<void>;
  add(args: {
    name: string;
    scheme: string;
    apiKey: string;
    secret: SecretInput;
    passphrase?: SecretInput;
    meta?: Record<string, string>;
    /** Ask the venue what the key may do before keeping it (default: off). */
    verify?: 'auto' | 'on' | 'off';
    /** Keep a key the venue says can withdraw or transfer (refused otherwise). */
    allowWithdrawPermission?: boolean;
  }): Promise<CredentialInfo>;
  remove(name: string): Promise<void>;
  passwd(passphrase: SecretInput, newPassphrase: SecretInput): Promise<void>;
  close(): void;
}

export function defaultSocketPath(uid?: number, runtimeDir?: string): string;
export function socketPath(): string;

export type Mode = 'auto' | 'sign' | 'forward';
/**
 * Makes a ccxt exchange sign (or, in forward mode, send) through the agent;
 * returns the same exchange. mode 'auto' (default) signs, and forwards with
 * a credential the agent will only forward with (Alpaca).
 */
export function ccxt<E extends object>(exchange: E, opts: { credential: string; socket?: string; client?: Client; mode?: Mode }): E;
export const VENUES: Readonly<Record<string, { scheme: string }>>;
export const MODES: readonly Mode[];

export class KeywardError extends Error {
  constructor(message: string, code?: string);
  /** The protocol's stable code (`locked`, `denied`, …) or a client code (`unreachable`, `connection_lost`, `protocol`, `closed`, `timeout`). */
  code: string;
  static code: string;
}
export class BadFrameError extends KeywardError {}
export class BadRequestError extends KeywardError {}
export class UnsupportedError extends KeywardError {}
export class LockedError extends KeywardError {}
export class AlreadyUnlockedError extends KeywardError {}
export class DeniedError extends KeywardError {}
export class UnknownCredentialError extends KeywardError {}
export class ExistsError extends KeywardError {}
export class WrongPassphraseError extends KeywardError {}
export class NoVaultError extends KeywardError {}
export class VaultError extends KeywardError {}
export class MemlockError extends KeywardError {}
/** sign with a credential whose venue receives the secret itself: use forward. */
export class ForwardOnlyError extends KeywardError {}
/** A forwarded request got no complete answer from the venue; the message says whether it was sent. */
export class UpstreamError extends KeywardError {}
export class BusyError extends KeywardError {}
export class InternalError extends KeywardError {}
export class AgentUnreachableError extends KeywardError {
  path?: string;
}
export class ConnectionLostError extends KeywardError {}
export class ProtocolError extends KeywardError {}
export class ClientClosedError extends KeywardError {}
export class TimeoutError extends KeywardError {}
export const CODES: Readonly<Record<string, typeof KeywardError>>;
export function errorFromWire(err: unknown): KeywardError;

declare const keyward: {
  Client: typeof Client;
  ForwardResponse: typeof ForwardResponse;
  ccxt: typeof ccxt;
  MODES: typeof MODES;
  VENUES: typeof VENUES;
  PROTOCOL_VERSION: typeof PROTOCOL_VERSION;
  PLACEHOLDER_API_KEY: string;
  PLACEHOLDER_SECRET: string;
  PLACEHOLDER_PASSWORD: string;
  defaultSocketPath: typeof defaultSocketPath;
  socketPath: typeof socketPath;
  KeywardError: typeof KeywardError;
  BadFrameError: typeof BadFrameError;
  BadRequestError: typeof BadRequestError;
  UnsupportedError: typeof UnsupportedError;
  LockedError: typeof LockedError;
  AlreadyUnlockedError: typeof AlreadyUnlockedError;
  DeniedError: typeof DeniedError;
  UnknownCredentialError: typeof UnknownCredentialError;
  ExistsError: typeof ExistsError;
  WrongPassphraseError: typeof WrongPassphraseError;
  NoVaultError: typeof NoVaultError;
  VaultError: typeof VaultError;
  MemlockError: typeof MemlockError;
  ForwardOnlyError: typeof ForwardOnlyError;
  UpstreamError: typeof UpstreamError;
  BusyError: typeof BusyError;
  InternalError: typeof InternalError;
  AgentUnreachableError: typeof AgentUnreachableError;
  ConnectionLostError: typeof ConnectionLostError;
  ProtocolError: typeof ProtocolError;
  ClientClosedError: typeof ClientClosedError;
  TimeoutError: typeof TimeoutError;
  CODES: typeof CODES;
  errorFromWire: typeof errorFromWire;
};
export default keyward;
