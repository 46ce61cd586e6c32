package protocol

import (
	"fmt"
	"os"
	"path/filepath"
)

// SocketEnv names the environment variable that points clients and the
// agent at the socket, as SSH_AUTH_SOCK does for ssh-agent.
const SocketEnv = "KEYWARD_SOCK"

// SocketPath returns the agent's socket path: $KEYWARD_SOCK if set, else
// /run/keyward/agent.sock for root (where the system service listens), else
// $XDG_RUNTIME_DIR/keyward/agent.sock, else /tmp/keyward-UID/agent.sock.
func SocketPath() string {
	if p := os.Getenv(SocketEnv); p != "" {
		return p
	}
	return DefaultSocketPath(os.Getuid(), os.Getenv("XDG_RUNTIME_DIR"))
}

// DefaultSocketPath is SocketPath without the environment override.
func DefaultSocketPath(uid int, runtimeDir string) string {
	switch {
	case uid == 0:
		return "/run/keyward/agent.sock"
	case runtimeDir != "":
		return filepath.Join(runtimeDir, "keyward", "agent.sock")
	default:
		return filepath.Join(os.TempDir(), fmt.Sprintf("keyward-%d", uid), "agent.sock")
	}
}
