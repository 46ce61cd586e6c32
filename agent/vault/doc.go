// Package vault reads and writes keyward's encrypted vault file: the one
// place where exchange credentials rest on disk.
//
// A passphrase is stretched with Argon2id into a key-encryption key, which
// wraps a random 256-bit data key with AES-256-GCM; each record's secret is
// sealed with AES-256-GCM under its own key, derived with HKDF-SHA256 from the
// data key and a per-record salt, and its name and metadata are bound as
// additional data. A keyed MAC over the whole file detects records that were
// added, removed, reordered or swapped, and an unkeyed SHA-256 sum lets a
// damaged file be reported as damaged while the vault is still locked. The
// byte-exact format is in FORMAT.md.
//
// The package must never:
//   - write a secret, the data key or a key derived from it to disk unsealed;
//   - overwrite a vault file it could not write completely: every change goes
//     to a temporary file in the same directory, is synced, and replaces the
//     old file with one rename, so a failed operation leaves the file as it was;
//   - put secret material (a passphrase, a secret, a key, a plaintext byte)
//     in an error, a log line or a panic message;
//   - leave plaintext or key material it created in ordinary heap memory for
//     longer than the call that needed it: secrets are decrypted straight into
//     buffers the caller owns (locked memory), the data key lives in a memguard
//     LockedBuffer, and every other copy is cleared as soon as it is used.
//
// Every function that takes a passphrase (Create, Unlock, ChangePassphrase,
// CheckPassphrase) wipes it as soon as Argon2id has derived the key from
// it: pass a buffer you no longer need.
//
// Open reads metadata (names, schemes, API keys, dates) without the
// passphrase. That metadata is authenticated only by Unlock: a locked vault's
// listing is as trustworthy as the disk it came from.
package vault
