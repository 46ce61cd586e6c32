//go:build !goexperiment.runtimesecret

package vault

// ErasesDerivation reports whether key derivation runs under runtime/secret.
// This build does not: build with GOEXPERIMENT=runtimesecret (`make build`)
// so that Argon2id's internal copy of the passphrase is erased.
const ErasesDerivation = false

// erase runs f. Without runtime/secret, the memory f used is left as it is.
func erase(f func()) { f() }
