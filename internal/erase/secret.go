//go:build goexperiment.runtimesecret

package erase

import "runtime/secret"

// Enabled reports whether Do erases what f used.
const Enabled = true

// Do runs f and erases the registers, stack and heap it used.
func Do(f func()) { secret.Do(f) }
