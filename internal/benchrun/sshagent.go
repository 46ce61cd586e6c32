package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/crypto/ssh"
	sshagent "golang.org/x/crypto/ssh/agent"

	"github.com/keyward/keyward/protocol"
)

// Target 3 of issue 9: an Ed25519 signature through keyward against one
// through OpenSSH's ssh-agent, each a round trip over its own socket.

// edSamples is how many Ed25519 round trips each side measures: enough
// for a stable median; ssh-agent's are ~0.6 ms each.
const (
	edSamples = 3000
	edWarmup  = 300
)

// edCredential is the Ed25519 credential's name.
const edCredential = "ed25519-main"

func (h *harness) ed25519Rows(ctx context.Context) ([]Row, error) {
	const id, figure, target = "ed25519_p50", "Ed25519 sign p50 vs ssh-agent", "≤ 0.1×"
	for _, tool := range []string{"ssh-agent", "ssh-keygen", "ssh-add"} {
		if _, err := exec.LookPath(tool); err != nil {
			return []Row{noteRow(id, figure, target, statusSkipped, tool+" not installed (apt install openssh-client)")}, nil
		}
	}
	ssh, err := h.sshAgentP50(ctx)
	if err != nil {
		return nil, fmt.Errorf("ssh-agent: %w", err)
	}
	kw, err := h.keywardEd25519P50(ctx)
	if err != nil {
		row := noteRow(id, figure, target, statusError, "keyward: "+err.Error())
		row.Unit, row.Baseline, row.BaselineName = "µs", ptr(micros(ssh)), "ssh-agent"
		return []Row{row}, nil
	}
	row := ratioRow(id, figure, "µs", micros(kw), micros(ssh), "ssh-agent", atMost, 0.1)
	row.Note = fmt.Sprintf("keyward signs a Binance order with an Ed25519 PKCS#8 key; ssh-agent an equal-size payload; %d round trips each", edSamples)
	return []Row{row}, nil
}

// keywardEd25519P50 starts an agent, adds an Ed25519 Binance credential
// and measures its sign round trip.
func (h *harness) keywardEd25519P50(ctx context.Context) (time.Duration, error) {
	a, err := h.unlockedAgent(ctx, "agent-ed25519")
	if err != nil {
		return 0, err
	}
	defer a.stop()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return 0, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return 0, fmt.Errorf("encode key: %w", err)
	}
	c, err := a.dial()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_, err = c.Add(ctx, protocol.AddArgs{
		Name: edCredential, Scheme: "binance", APIKey: "bench-ed25519-key",
		Secret: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		Verify: protocol.VerifyOff,
	})
	if err != nil {
		return 0, fmt.Errorf("add: %w", a.explain(err))
	}
	t, err := newFrameTemplate(protocol.OpSign, signArgs(edCredential))
	if err != nil {
		return 0, err
	}
	lat, err := measureLatency(ctx, a.sock, t, edWarmup, edSamples, nil)
	if err != nil {
		return 0, a.explain(err)
	}
	return percentile(lat, 50), nil
}

// sshAgentP50 starts OpenSSH's ssh-agent with a new Ed25519 key, added
// with ssh-add as a user would, and measures its sign round trip through
// x/crypto's agent client.
func (h *harness) sshAgentP50(ctx context.Context) (time.Duration, error) {
	dir := filepath.Join(h.dir, "ssh")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return 0, err
	}
	key := filepath.Join(dir, "id_ed25519")
	if out, err := exec.CommandContext(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "keyward-bench", "-f", key).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("ssh-keygen: %w: %s", err, out)
	}
	sock := filepath.Join(dir, "agent.sock")
	agentProc, err := h.startChild("ssh-agent", dir, "ssh-agent", []string{"-D", "-a", sock}, os.Environ(), nil)
	if err != nil {
		return 0, err
	}
	defer agentProc.stop()
	if err := waitListening(sock, agentProc); err != nil {
		return 0, err
	}
	add := exec.CommandContext(ctx, "ssh-add", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("ssh-add: %w: %s", err, out)
	}

	nc, err := net.Dial("unix", sock)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	ag := sshagent.NewClient(nc)
	keys, err := ag.List()
	if err != nil {
		return 0, fmt.Errorf("list keys: %w", err)
	}
	i := slices.IndexFunc(keys, func(k *sshagent.Key) bool { return k.Type() == ssh.KeyAlgoED25519 })
	if i < 0 {
		return 0, fmt.Errorf("the Ed25519 key is not in ssh-agent (%d keys)", len(keys))
	}
	pub := keys[i]
	// About what keyward's Ed25519 signature covers: the order's
	// parameters with recvWindow and timestamp.
	data := []byte(signArgs("").Body + "&recvWindow=5000&timestamp=1700000000000")
	lat := make([]time.Duration, 0, edSamples)
	for n := range edWarmup + edSamples {
		if n%256 == 0 && ctx.Err() != nil {
			return 0, ctx.Err()
		}
		nc.SetDeadline(time.Now().Add(ioTimeout))
		start := time.Now()
		sig, err := ag.Sign(pub, data)
		took := time.Since(start)
		if err != nil {
			return 0, fmt.Errorf("sign: %w", err)
		}
		if n == 0 {
			if err := pub.Verify(data, sig); err != nil {
				return 0, fmt.Errorf("ssh-agent's signature does not verify: %w", err)
			}
		}
		if n >= edWarmup {
			lat = append(lat, took)
		}
	}
	slices.Sort(lat)
	return percentile(lat, 50), nil
}
