package client

import (
	"errors"

	"github.com/keyward/keyward/protocol"
)

// IsLocked reports whether err says the agent is locked.
func IsLocked(err error) bool { return protocol.HasCode(err, protocol.CodeLocked) }

// IsDenied reports whether err says the agent refused the caller.
func IsDenied(err error) bool { return protocol.HasCode(err, protocol.CodeDenied) }

// IsUnknownCredential reports whether err names a credential the agent
// does not hold.
func IsUnknownCredential(err error) bool {
	return protocol.HasCode(err, protocol.CodeUnknownCredential)
}

// IsBadRequest reports whether err says the request itself was wrong.
func IsBadRequest(err error) bool { return protocol.HasCode(err, protocol.CodeBadRequest) }

// IsUnsupported reports whether err names an operation or scheme the agent
// does not support.
func IsUnsupported(err error) bool { return protocol.HasCode(err, protocol.CodeUnsupported) }

// IsWrongPassphrase reports whether err says the passphrase was wrong.
func IsWrongPassphrase(err error) bool {
	return protocol.HasCode(err, protocol.CodeWrongPassphrase)
}

// IsUnreachable reports whether err says no agent answered on the socket.
func IsUnreachable(err error) bool {
	var d *DialError
	return errors.As(err, &d)
}
