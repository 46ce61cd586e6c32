//go:build !goexperiment.runtimesecret

package erase

// Enabled reports whether Do erases what f used. This build does not: build
// with GOEXPERIMENT=runtimesecret (`make build`).
const Enabled = false

// Do runs f. Without runtime/secret, the memory f used is left as it is.
func Do(f func()) { f() }
