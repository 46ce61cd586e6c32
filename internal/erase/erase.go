// Package erase runs a function so that the temporary memory it used is
// erased afterwards, when the binary is built with GOEXPERIMENT=runtimesecret
// (`make build` does): registers and stack at once, heap allocations when
// the garbage collector finds them unreachable.
//
// Key derivation and every asymmetric signature (RSA, ECDSA, Ed25519,
// secp256k1) run under Do, because the standard library and the curve
// libraries expand keys into ordinary Go memory that nothing else wipes.
// Without the experiment, Do only calls f and Enabled is false; the agent
// warns about it at start.
package erase
