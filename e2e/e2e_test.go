// Package e2e holds keyward's end-to-end tests: they build the real
// binary, run `keyward agent` as a process on a real socket with a real
// vault file in a temporary directory, and drive it with the CLI. Each
// script in testdata/script is one user's story with its expected output.
package e2e

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyward/keyward/protocol"
	"github.com/keyward/keyward/protocol/agenttest"
)

// keywardBin is the binary under test, built once by TestMain.
var keywardBin string

func TestMain(m *testing.M) {
	// No test asks a real venue about a key: `keyward add` would by
	// default (auto). The forward tests set --verify themselves.
	os.Setenv("KEYWARD_VERIFY", "off")
	dir, err := os.MkdirTemp("", "keyward-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Other uids run this binary in the peer tests.
	os.Chmod(dir, 0o755)
	keywardBin = filepath.Join(dir, "keyward")
	args := []string{"build", "-o", keywardBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "../cmd/keyward")...)
	// As `make build` does: Argon2id runs under runtime/secret.
	build.Env = append(os.Environ(), "GOEXPERIMENT=runtimesecret")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building keyward:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			bin := filepath.Dir(keywardBin)
			env.Setenv("PATH", bin+string(os.PathListSeparator)+env.Getenv("PATH"))
			env.Setenv("HOME", env.WorkDir)
			// Socket paths must stay under the 108-byte sun_path limit.
			run, err := os.MkdirTemp("", "kw-")
			if err != nil {
				return err
			}
			env.Defer(func() { os.RemoveAll(run) })
			env.Setenv("KEYWARD_SOCK", filepath.Join(run, "agent", "agent.sock"))
			env.Setenv("KEYWARD_VAULT", filepath.Join(env.WorkDir, "data", "vault"))
			env.Setenv("XDG_RUNTIME_DIR", run)
			// A race-built binary sleeps 1 s at exit by default, waiting for
			// late reports; the tests wait for the agent explicitly instead.
			env.Setenv("GORACE", "atexit_sleep_ms=10")
			env.Setenv("KEYWARD_VERIFY", "off")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitsock":         cmdWaitSock,
			"binanceverify":    cmdBinanceVerify,
			"binancekeyverify": cmdBinanceKeyVerify,
			"filemode":         cmdFileMode,
			"exitcode":         cmdExitCode,
			"truncate":         cmdTruncate,
			"replace":          cmdReplace,
			"resum":            cmdResum,
		},
	})
}

// cmdWaitSock waits up to 20 s for an agent to accept on a socket.
//
//	waitsock $KEYWARD_SOCK
func cmdWaitSock(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: waitsock path")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("unix", args[0])
		if err == nil {
			c.Close()
			if neg {
				ts.Fatalf("%s accepts connections", args[0])
			}
			return
		}
		if neg {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no agent on %s after 20s: %v", args[0], err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cmdBinanceVerify checks, independently of keyward's own code, that the
// signed request on stdout carries a correct Binance HMAC-SHA256
// signature for the given secret, and the API key header.
//
//	binanceverify SECRET APIKEY
func cmdBinanceVerify(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: binanceverify secret apikey")
	}
	var req protocol.HTTPRequest
	ts.Check(json.Unmarshal([]byte(ts.ReadFile("stdout")), &req))
	err := agenttest.VerifyBinance(args[0], &req)
	if err == nil && req.Headers["X-MBX-APIKEY"] != args[1] {
		err = fmt.Errorf("X-MBX-APIKEY is %q, want %q", req.Headers["X-MBX-APIKEY"], args[1])
	}
	if (err == nil) == neg {
		ts.Fatalf("signature check: %v (negated: %v)", err, neg)
	}
}

// cmdBinanceKeyVerify checks, with the standard library alone, that the
// signed Binance request on stdout carries a valid RSA or Ed25519
// signature by the private key in a PEM file (made by openssl in the
// script, never committed): base64, percent-encoded, last parameter.
//
//	binancekeyverify key.pem
func cmdBinanceKeyVerify(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: binancekeyverify key.pem")
	}
	var req protocol.HTTPRequest
	ts.Check(json.Unmarshal([]byte(ts.ReadFile("stdout")), &req))
	block, _ := pem.Decode([]byte(ts.ReadFile(args[0])))
	if block == nil {
		ts.Fatalf("%s is not PEM", args[0])
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	ts.Check(err)
	_, query, _ := strings.Cut(req.URL, "?")
	target := query
	if req.Body != "" {
		target = req.Body
	}
	i := strings.LastIndex(target, "&signature=")
	if i < 0 {
		ts.Fatalf("no signature in %q", target)
	}
	sigText, err := url.QueryUnescape(target[i+len("&signature="):])
	ts.Check(err)
	sig, err := base64.StdEncoding.DecodeString(sigText)
	ts.Check(err)
	payload := strings.TrimSuffix(query+req.Body, target[i:])
	switch k := key.(type) {
	case ed25519.PrivateKey:
		if !ed25519.Verify(k.Public().(ed25519.PublicKey), []byte(payload), sig) {
			err = fmt.Errorf("Ed25519 signature does not verify over %q", payload)
		}
	case *rsa.PrivateKey:
		d := sha256.Sum256([]byte(payload))
		err = rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, d[:], sig)
	default:
		ts.Fatalf("a %T key", key)
	}
	if (err == nil) == neg {
		ts.Fatalf("signature check: %v (negated: %v)", err, neg)
	}
}

// cmdFileMode checks a file's permission bits.
//
//	filemode 0600 path
func cmdFileMode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: filemode 0600 path")
	}
	fi, err := os.Stat(ts.MkAbs(args[1]))
	ts.Check(err)
	got := fmt.Sprintf("%04o", fi.Mode().Perm())
	if (got == args[0]) == neg {
		ts.Fatalf("%s has mode %s, want %s", args[1], got, args[0])
	}
}

// cmdExitCode runs a command and checks its exact exit status, which
// `exec` cannot: keyward promises 0, 1 and 2 for success, failure, usage.
//
//	exitcode 2 keyward frobnicate
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: exitcode N command [args...]")
	}
	err := ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if (fmt.Sprint(got) == args[0]) == neg {
		ts.Fatalf("%s exited %d, want %s", strings.Join(args[1:], " "), got, args[0])
	}
}

// cmdTruncate cuts a file to n bytes.
//
//	truncate path 200
func cmdTruncate(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || neg {
		ts.Fatalf("usage: truncate path n")
	}
	var n int64
	_, err := fmt.Sscan(args[1], &n)
	ts.Check(err)
	ts.Check(os.Truncate(ts.MkAbs(args[0]), n))
}

// cmdReplace replaces the first occurrence of old with new in a file,
// keeping its mode.
//
//	replace path old new
func cmdReplace(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 || neg {
		ts.Fatalf("usage: replace path old new")
	}
	p := ts.MkAbs(args[0])
	fi, err := os.Stat(p)
	ts.Check(err)
	b, err := os.ReadFile(p)
	ts.Check(err)
	s := string(b)
	if !strings.Contains(s, args[1]) {
		ts.Fatalf("%s does not contain %q", args[0], args[1])
	}
	ts.Check(os.WriteFile(p, []byte(strings.Replace(s, args[1], args[2], 1)), fi.Mode().Perm()))
}

// cmdResum recomputes a vault file's closing "sum" line (the SHA-256 of
// everything before it), as a file written by another keyward version
// would have it, so that a test reaches the checks behind the checksum.
//
//	resum path
func cmdResum(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: resum path")
	}
	p := ts.MkAbs(args[0])
	b, err := os.ReadFile(p)
	ts.Check(err)
	i := bytes.LastIndex(b, []byte("\nsum "))
	if i < 0 {
		ts.Fatalf("%s has no sum line", args[0])
	}
	body := b[:i+1]
	sum := sha256.Sum256(body)
	out := append(body, "sum "+hex.EncodeToString(sum[:])+"\n"...)
	ts.Check(os.WriteFile(p, out, 0o600))
}
