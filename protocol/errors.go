package protocol

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. New codes may be added;
// a client treats an unknown code like CodeInternal.
type Code string

// The error codes of protocol version 1.
const (
	// CodeBadFrame: the frame could not be read (size, JSON). The agent
	// closes the connection after sending it with id 0.
	CodeBadFrame Code = "bad_frame"
	// CodeBadRequest: the request is well-formed JSON but wrong (missing
	// field, malformed URL, a parameter the agent sets itself).
	CodeBadRequest Code = "bad_request"
	// CodeUnsupported: unknown operation or scheme, or an operation the
	// scheme cannot do.
	CodeUnsupported Code = "unsupported"
	// CodeLocked: the agent is locked; the owner must unlock it.
	CodeLocked Code = "locked"
	// CodeAlreadyUnlocked: unlock was asked of an unlocked agent.
	CodeAlreadyUnlocked Code = "already_unlocked"
	// CodeDenied: the caller may not do this (peer, host, policy).
	CodeDenied Code = "denied"
	// CodeUnknownCredential: no credential has that name.
	CodeUnknownCredential Code = "unknown_credential"
	// CodeExists: a credential with that name exists already.
	CodeExists Code = "exists"
	// CodeWrongPassphrase: the passphrase does not open the vault.
	CodeWrongPassphrase Code = "wrong_passphrase"
	// CodeNoVault: there is no vault file yet.
	CodeNoVault Code = "no_vault"
	// CodeVault: the vault file cannot be used (corrupt, tampered,
	// permissions, newer format). The message says which and what to do.
	CodeVault Code = "vault"
	// CodeMemlock: the agent cannot lock more memory for secrets.
	CodeMemlock Code = "memlock"
	// CodeForwardOnly: the credential's scheme sends its secret in clear
	// (a bearer token, Alpaca's secret key), so the agent will not hand
	// a signed request to the bot: use the forward operation instead.
	CodeForwardOnly Code = "forward_only"
	// CodeUpstream: a forwarded request did not get a usable answer from
	// the venue (unreachable, TLS refused, timed out, response too
	// large). The message says which; the venue's own HTTP errors are not
	// this code but a normal HTTPResponse.
	CodeUpstream Code = "upstream"
	// CodeBusy: the agent is at its connection limit; try again later.
	CodeBusy Code = "busy"
	// CodeInternal: anything else. Details stay in the agent's log.
	CodeInternal Code = "internal"
)

// Error is an error as it travels on the wire: a code and a message a
// person can act on. The message never carries secret material.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns err's code if it is or wraps an *Error, else CodeInternal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// HasCode reports whether err is or wraps an *Error with the given code.
func HasCode(err error, code Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
