package vault

import "github.com/keyward/keyward/internal/erase"

// ErasesDerivation reports whether key derivation runs under runtime/secret,
// which erases the stack, registers and heap that Argon2id used. Without
// it, x/crypto/argon2's internal BLAKE2b state keeps a copy of the
// passphrase on the Go heap until that memory happens to be reused. Build
// with GOEXPERIMENT=runtimesecret (`make build`) to have it.
const ErasesDerivation = erase.Enabled
