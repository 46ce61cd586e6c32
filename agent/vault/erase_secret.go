//go:build goexperiment.runtimesecret

package vault

import "runtime/secret"

// ErasesDerivation reports whether key derivation runs under runtime/secret,
// which erases the stack, registers and heap that Argon2id used. Without
// it, x/crypto/argon2's internal BLAKE2b state keeps a copy of the
// passphrase on the Go heap until that memory happens to be reused.
const ErasesDerivation = true

// erase runs f so that the temporary memory it used is erased afterwards:
// registers and stack at once, heap allocations when the garbage collector
// finds them unreachable.
func erase(f func()) { secret.Do(f) }
