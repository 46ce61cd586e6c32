package agent

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/agent/peercred"
	"github.com/keyward/keyward/agent/peerid"
	"github.com/keyward/keyward/agent/policy"
	"github.com/keyward/keyward/agent/vault"
	"github.com/keyward/keyward/protocol"
	"github.com/keyward/keyward/protocol/agenttest"
)

// recorder is an Auditor that keeps events in memory.
type recorder struct {
	mu  sync.Mutex
	evs []AuditEvent
	err error
}

func (r *recorder) Record(e AuditEvent) { r.mu.Lock(); r.evs = append(r.evs, e); r.mu.Unlock() }
func (r *recorder) Healthy() error      { r.mu.Lock(); defer r.mu.Unlock(); return r.err }
func (r *recorder) last() AuditEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.evs[len(r.evs)-1]
}

func as(uid uint32, unit string) context.Context {
	id := peerid.Identity{Cred: peercred.Cred{UID: uid, GID: uid, PID: 1}, Unit: unit}
	return peerid.NewContext(context.Background(), id)
}

const botPolicy = `
version = 1
[[client]]
name = "grid"
uid = 4242
unit = "grid.service"
  [[client.grant]]
  credentials = ["main"]
  operations = ["sign", "list"]
  endpoints = ["GET /api/v3/account", "POST /api/v3/order"]
  max_quantity = "1"
`

// policyAgent is an unlocked agent, owned by this process's uid, with two
// credentials and botPolicy in force.
func policyAgent(t *testing.T, src string) (*Agent, *recorder) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "vault")
	require.NoError(t, vault.Create(path, []byte(agenttest.Passphrase), cheapKDF))
	pol := filepath.Join(dir, "policy.toml")
	require.NoError(t, os.WriteFile(pol, []byte(src), 0o600))
	h, err := policy.NewHolder(pol, testLog(t))
	require.NoError(t, err)
	rec := &recorder{}
	a := New(Config{VaultPath: path, Log: testLog(t), OwnerUID: uint32(os.Getuid()), Policy: h, Audit: rec})
	t.Cleanup(a.Close)
	unlocked(t, a)
	for _, n := range []string{"main", "treasury"} {
		_, err := a.Add(selfContext(), protocol.AddArgs{Name: n, Scheme: "binance", APIKey: "k-" + n, Secret: protocol.Secret("policy-test-secret-" + n)})
		require.NoError(t, err)
	}
	return a, rec
}

func TestPolicyThroughTheAgent(t *testing.T) {
	a, rec := policyAgent(t, botPolicy)
	bot := as(4242, "grid.service")
	acct := protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/api/v3/account"}}

	// Allowed: signed and audited with the rule, never the secret.
	out, err := a.Sign(bot, acct)
	require.NoError(t, err)
	require.NoError(t, agenttest.VerifyBinance("policy-test-secret-main", out))
	ev := rec.last()
	assert.Equal(t, "allow", ev.Decision)
	assert.Contains(t, ev.Rule, `client "grid" grant 1`)
	assert.Equal(t, "grid.service", ev.Client.Unit)
	assert.Equal(t, "/api/v3/account", ev.Path)
	assert.Len(t, ev.Params, 64)

	// The same uid from another unit matches no client: denied, with the rule.
	_, err = a.Sign(as(4242, "other.service"), acct)
	assert.Equal(t, protocol.CodeDenied, protocol.CodeOf(err))
	assert.Contains(t, err.Error(), "no client in the policy matches")
	assert.Equal(t, "deny", rec.last().Decision)
	assert.Equal(t, "other.service", rec.last().Client.Unit)

	// Another credential: the same words as for one that does not exist.
	_, err1 := a.Sign(bot, protocol.SignArgs{Credential: "treasury", HTTPRequest: acct.HTTPRequest})
	_, err2 := a.Sign(bot, protocol.SignArgs{Credential: "no-such", HTTPRequest: acct.HTTPRequest})
	assert.Equal(t, protocol.CodeDenied, protocol.CodeOf(err1))
	assert.Equal(t, protocol.CodeDenied, protocol.CodeOf(err2))
	assert.Equal(t, err1.Error(), replaceName(err2.Error(), "no-such", "treasury"))

	// Order size limit and the withdrawal catalogue.
	_, err = a.Sign(bot, protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "POST", URL: "https://api.binance.com/api/v3/order", Body: "symbol=BTCUSDT&quantity=2&price=1"}})
	assert.Contains(t, err.Error(), "max_quantity")
	_, err = a.Sign(bot, protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "POST", URL: "https://api.binance.com/api/v3/order", Body: "coin=BTC&address=x&amount=1"}})
	assert.Contains(t, err.Error(), "money-moving parameters")

	// list shows a bot only what it may use; the owner sees everything.
	l, err := a.List(bot)
	require.NoError(t, err)
	require.Len(t, l.Credentials, 1)
	assert.Equal(t, "main", l.Credentials[0].Name)
	l, err = a.List(selfContext())
	require.NoError(t, err)
	assert.Len(t, l.Credentials, 2)

	// A bot may not administer.
	_, err = a.Add(bot, protocol.AddArgs{Name: "x", Scheme: "binance", APIKey: "k", Secret: protocol.Secret("policy-test-secret-x")})
	assert.Equal(t, protocol.CodeDenied, protocol.CodeOf(err))
	assert.Equal(t, protocol.CodeDenied, protocol.CodeOf(a.Lock(bot)))

	// A peer the policy does not name cannot connect at all.
	assert.Error(t, a.AuthorizePeer(peerid.Identity{Cred: peercred.Cred{UID: 5555}}))
	assert.NoError(t, a.AuthorizePeer(peerid.Identity{Cred: peercred.Cred{UID: 4242}, Unit: "grid.service"}))

	// Status names the policy.
	st, err := a.Status(selfContext())
	require.NoError(t, err)
	assert.Contains(t, st.Policy, "policy.toml")
	assert.Empty(t, st.PolicyError)
}

func replaceName(s, from, to string) string {
	out := []byte{}
	for i := 0; i < len(s); {
		if len(s[i:]) >= len(from) && s[i:i+len(from)] == from {
			out = append(out, to...)
			i += len(from)
			continue
		}
		out = append(out, s[i])
		i++
	}
	return string(out)
}

// TestWithoutPolicyTheCatalogueStillHolds: no policy file, the owner
// signs freely, but a withdrawal is refused.
func TestWithoutPolicyTheCatalogueStillHolds(t *testing.T) {
	a := newTestAgent(t)
	unlocked(t, a)
	_, err := a.Add(selfContext(), protocol.AddArgs{Name: "b", Scheme: "binance", APIKey: "k", Secret: protocol.Secret("no-policy-test-secret")})
	require.NoError(t, err)
	_, err = a.Sign(selfContext(), protocol.SignArgs{Credential: "b", HTTPRequest: protocol.HTTPRequest{Method: "POST", URL: "https://api.binance.com/sapi/v1/capital/withdraw/apply", Body: "coin=BTC&address=bc1q&amount=1"}})
	assert.Equal(t, protocol.CodeDenied, protocol.CodeOf(err))
	assert.Contains(t, err.Error(), "withdrawal")
}

// TestAuditFailClosed: when the audit log cannot be written, signing stops.
func TestAuditFailClosed(t *testing.T) {
	a, rec := policyAgent(t, botPolicy)
	rec.mu.Lock()
	rec.err = os.ErrPermission
	rec.mu.Unlock()
	_, err := a.Sign(as(4242, "grid.service"), protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/api/v3/account"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "audit log cannot be written")
}

func TestRateLimitThroughTheAgent(t *testing.T) {
	a, _ := policyAgent(t, botPolicy+"\n[[credential]]\nname = \"main\"\nrate = \"1/h\"\nburst = 2\n")
	bot := as(4242, "grid.service")
	acct := protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/api/v3/account"}}
	for range 2 {
		_, err := a.Sign(bot, acct)
		require.NoError(t, err)
	}
	_, err := a.Sign(bot, acct)
	assert.Equal(t, protocol.CodeDenied, protocol.CodeOf(err))
	assert.Contains(t, err.Error(), "retry in")
}

// TestExpireUnused: under expire_unused, a key nobody signs with is
// removed from the vault once the period passes; a used one stays.
func TestExpireUnused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vault")
	require.NoError(t, vault.Create(path, []byte(agenttest.Passphrase), cheapKDF))
	pol := filepath.Join(dir, "policy.toml")
	require.NoError(t, os.WriteFile(pol, []byte(botPolicy+"\n[defaults]\nexpire_unused = \"30d\"\n"), 0o600))
	h, err := policy.NewHolder(pol, testLog(t))
	require.NoError(t, err)
	now := time.Now()
	clock := func() time.Time { return now }
	a := New(Config{VaultPath: path, Log: testLog(t), OwnerUID: uint32(os.Getuid()), Policy: h, Now: clock})
	t.Cleanup(a.Close)
	unlocked(t, a)
	for _, n := range []string{"main", "idle"} {
		_, err := a.Add(selfContext(), protocol.AddArgs{Name: n, Scheme: "binance", APIKey: "k", Secret: protocol.Secret("expire-test-secret-" + n)})
		require.NoError(t, err)
	}
	assert.Empty(t, a.ExpireUnused(), "nothing is due yet")

	now = now.Add(20 * 24 * time.Hour)
	_, err = a.Sign(as(4242, "grid.service"), protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/api/v3/account"}})
	require.NoError(t, err)
	l, err := a.List(selfContext())
	require.NoError(t, err)
	for _, c := range l.Credentials {
		assert.False(t, c.ExpiresAt.IsZero())
		if c.Name == "main" {
			assert.Equal(t, now.Unix(), c.LastUsed.Unix())
		}
	}

	now = now.Add(15 * 24 * time.Hour) // idle: 35 days unused; main: 15
	assert.Equal(t, []string{"idle"}, a.ExpireUnused())
	l, err = a.List(selfContext())
	require.NoError(t, err)
	require.Len(t, l.Credentials, 1)
	assert.Equal(t, "main", l.Credentials[0].Name)
	f, err := vault.Open(path)
	require.NoError(t, err)
	assert.Len(t, f.Records(), 1, "removed from the vault file too")
}
