// Types for keyward, the Node.js client of the keyward agent (protocol/SPEC.md).

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
  meta?: Record<string, string>;
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
  /** Forward mode: agents of protocol version 1 answer UnsupportedError. */
  forward(credential: string, req: HTTPRequest): Promise<any>;
  unlock(passphrase: SecretInput): Promise<{ credentials: number }>;
  lock(): Promise<void>;
  add(args: { name: string; scheme: string; apiKey: string; secret: SecretInput; passphrase?: SecretInput; meta?: Record<string, string> }): Promise<CredentialInfo>;
  remove(name: string): Promise<void>;
  passwd(passphrase: SecretInput, newPassphrase: SecretInput): Promise<void>;
  close(): void;
}

export function defaultSocketPath(uid?: number, runtimeDir?: string): string;
export function socketPath(): string;

/** Makes a ccxt exchange sign through the agent; returns the same exchange. */
export function ccxt<E extends object>(exchange: E, opts: { credential: string; socket?: string; client?: Client }): E;
export const VENUES: Readonly<Record<string, { scheme: string }>>;

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
  ccxt: typeof ccxt;
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
