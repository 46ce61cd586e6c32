// Package agent is the keyward daemon: it owns the vault, keeps unlocked
// secrets in the keyring, signs requests with the schemes, and serves the
// protocol on a Unix socket to peers it has identified through the kernel.
//
// It must never send a secret to a peer, write one to the log, or act for
// a peer whose identity it could not read.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/agent/forward"
	"github.com/keyward/keyward/agent/keyring"
	"github.com/keyward/keyward/agent/nonce"
	"github.com/keyward/keyward/agent/peercred"
	"github.com/keyward/keyward/agent/peerid"
	"github.com/keyward/keyward/agent/policy"
	"github.com/keyward/keyward/agent/scheme"
	"github.com/keyward/keyward/agent/vault"
	"github.com/keyward/keyward/internal/fasturl"
	"github.com/keyward/keyward/protocol"
)

// Version is keyward's release version.
const Version = "0.1.0"

// Config configures an Agent.
type Config struct {
	VaultPath string
	LockAfter time.Duration // lock after this long unlocked; 0 = never
	LockIdle  time.Duration // lock after this long without a signature; 0 = never
	Log       *slog.Logger
	Now       func() time.Time // nil = time.Now
	// OwnerUID is the uid that may administer the agent; root may too.
	OwnerUID uint32
	// UseGroups are groups whose members may use credentials (hello,
	// status, list, sign) but not administer them: the group a system
	// install's socket belongs to (`keyward`), for bots under other uids.
	UseGroups []uint32
	// OnStateChange, if set, runs after the agent locks, unlocks, or gains
	// or loses a credential (for systemd's STATUS=). It must not block.
	OnStateChange func()
	// Policy, when set, decides what each client may do (see package
	// policy); without it the owner, root and UseGroups may use every
	// credential, and only the money-moving catalogue is refused.
	Policy *policy.Holder
	// Audit, when set, receives a record of every use of a credential.
	Audit Auditor
	// Forward bounds forward mode's connections to venues.
	Forward forward.Config
}

// Agent implements protocol.Agent over the vault and the keyring.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	started time.Time
	kr      *keyring.Keyring
	nonces  *nonce.Store
	usage   *usageTracker
	garbage keyGarbage
	fwd     *forward.Client
	clocks  *clockBook
	probes  sync.WaitGroup // clock probes in flight

	mu    sync.Mutex // guards vault; held across vault writes
	vault *vault.Vault
}

var _ protocol.Agent = (*Agent)(nil)

// New returns a locked agent for the vault at cfg.VaultPath. The vault
// need not exist yet: it is read at unlock.
func New(cfg Config) *Agent {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Agent{cfg: cfg, log: cfg.Log, now: cfg.Now, nonces: nonce.Open(cfg.VaultPath + ".nonces")}
	a.usage = newUsageTracker(cfg.VaultPath+".usage", cfg.Log)
	a.fwd = forward.New(cfg.Forward)
	a.clocks = newClockBook()
	a.started = a.now()
	a.kr = keyring.New(keyring.Options{
		LockAfter: cfg.LockAfter,
		LockIdle:  cfg.LockIdle,
		Now:       cfg.Now,
		OnLock:    a.autoLocked,
	})
	return a
}

// Close locks the agent, wiping every secret, and releases locked memory.
func (a *Agent) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.kr.Close()
	a.closeVaultLocked()
	a.fwd.Close()
	a.probes.Wait()
	a.usage.flush()
}

// AuthorizePeer decides, at accept, whether a peer may talk to the agent
// at all: the owner, root, members of UseGroups, and clients the policy
// names may.
func (a *Agent) AuthorizePeer(id peerid.Identity) error {
	if a.isAdmin(id.Cred) || a.isUser(id.Cred) {
		return nil
	}
	if p := a.cfg.Policy.Policy(); p != nil && p.Match(id) != nil {
		return nil
	}
	if a.cfg.Policy != nil {
		return fmt.Errorf("no client in the policy matches it, and only uid %d (the agent's owner) and root administer", a.cfg.OwnerUID)
	}
	if len(a.cfg.UseGroups) > 0 {
		return fmt.Errorf("only uid %d (the agent's owner), root and members of group(s) %v may connect", a.cfg.OwnerUID, a.cfg.UseGroups)
	}
	return fmt.Errorf("only uid %d (the agent's owner) and root may connect", a.cfg.OwnerUID)
}

func (a *Agent) isAdmin(c peercred.Cred) bool { return c.UID == a.cfg.OwnerUID || c.UID == 0 }

func (a *Agent) isUser(c peercred.Cred) bool {
	for _, g := range a.cfg.UseGroups {
		if c.InGroup(g) {
			return true
		}
	}
	return false
}

// useOps are the operations a peer that is not an administrator may
// perform (the policy, when there is one, decides on each credential).
var useOps = map[string]bool{
	protocol.OpHello: true, protocol.OpStatus: true, protocol.OpList: true, protocol.OpSign: true,
	protocol.OpForward: true,
}

// State reports whether the agent is locked and how many credentials it
// holds (unlocked) for status displays such as systemd's STATUS=.
func (a *Agent) State() (locked bool, credentials int) {
	if a.kr.Locked() {
		return true, 0
	}
	return false, a.kr.Len()
}

func (a *Agent) stateChanged() {
	if a.cfg.OnStateChange != nil {
		a.cfg.OnStateChange()
	}
}

// authorize checks the caller carried in ctx. Unknown means denied.
// Administration is the owner's and root's alone; the use operations are
// open to every peer AuthorizePeer let in (the policy then decides on
// each credential).
func (a *Agent) authorize(ctx context.Context, op string) (peerid.Identity, error) {
	id, err := peerid.FromContext(ctx)
	if err != nil {
		a.log.Warn("denied: unknown caller", "op", op)
		return id, protocol.Errorf(protocol.CodeDenied, "the agent cannot tell who is asking, so it refuses")
	}
	if err := a.AuthorizePeer(id); err != nil {
		a.log.Warn("denied", "op", op, "uid", id.UID, "pid", id.PID, "reason", err.Error())
		return id, protocol.Errorf(protocol.CodeDenied, "uid %d may not %s: %v", id.UID, op, err)
	}
	if !a.isAdmin(id.Cred) && !useOps[op] {
		a.log.Warn("denied", "op", op, "uid", id.UID, "pid", id.PID, "reason", "not the owner")
		return id, protocol.Errorf(protocol.CodeDenied, "uid %d may use credentials but not %s: only uid %d (the agent's owner) and root administer the agent", id.UID, op, a.cfg.OwnerUID)
	}
	return id, nil
}

// Hello names the protocol version, the operations and the schemes.
func (a *Agent) Hello(ctx context.Context, args protocol.HelloArgs) (*protocol.HelloResult, error) {
	if _, err := a.authorize(ctx, protocol.OpHello); err != nil {
		return nil, err
	}
	res := &protocol.HelloResult{
		Version:    protocol.Version,
		Agent:      "keyward/" + Version,
		Operations: protocol.Operations(),
	}
	for _, name := range scheme.Names() {
		s, _ := scheme.Lookup(name)
		res.Schemes = append(res.Schemes, schemeInfo(s))
	}
	return res, nil
}

// schemeInfo describes a scheme for hello.
func schemeInfo(s scheme.Scheme) protocol.SchemeInfo {
	info := s.Info()
	hosts := s.Hosts()
	if hosts == nil {
		hosts = []string{}
	}
	ops := []string{protocol.OpSign, protocol.OpForward}
	if info.ForwardOnly {
		ops = []string{protocol.OpForward}
	}
	return protocol.SchemeInfo{
		Name:         s.Name(),
		Hosts:        hosts,
		Operations:   ops,
		ForwardOnly:  info.ForwardOnly,
		KeyTypes:     info.KeyTypes,
		Passphrase:   passphraseWord[info.Passphrase],
		ClearSecrets: info.ClearSecrets,
		WebSocket:    info.WebSocket,
		Meta:         info.Meta,
	}
}

var passphraseWord = map[scheme.Passphrase]string{
	scheme.PassphraseNone:     "none",
	scheme.PassphraseOptional: "optional",
	scheme.PassphraseRequired: "required",
}

// Status reports the agent's state.
func (a *Agent) Status(ctx context.Context) (*protocol.StatusResult, error) {
	if _, err := a.authorize(ctx, protocol.OpStatus); err != nil {
		return nil, err
	}
	ms := a.kr.MemStats()
	res := &protocol.StatusResult{
		Version:       Version,
		Locked:        a.kr.Locked(),
		UptimeSeconds: int64(a.now().Sub(a.started).Seconds()),
		UnlockedAt:    a.kr.UnlockedAt(),
		MemlockBytes:  ms.LockedBytes,
		MemlockLimit:  ms.Limit,
	}
	if ms.Unlimited {
		res.MemlockLimit = -1
	}
	if a.cfg.LockAfter > 0 {
		res.LockAfter = a.cfg.LockAfter.String()
	}
	if a.cfg.LockIdle > 0 {
		res.LockIdle = a.cfg.LockIdle.String()
	}
	a.policyStatus(res)
	res.Clocks = a.clocks.list()
	if !res.Locked {
		res.VaultPresent = true
		res.Credentials = a.kr.Len()
		a.mu.Lock()
		if a.vault != nil {
			for _, r := range a.vault.Records() {
				if a.infoOf(r).RotationDue {
					res.RotationDue++
				}
			}
		}
		a.mu.Unlock()
		return res, nil
	}
	f, err := vault.Open(a.cfg.VaultPath)
	switch {
	case errors.Is(err, vault.ErrNotExist):
	case err != nil:
		return nil, a.vaultError("status", err)
	default:
		res.VaultPresent = true
		res.Credentials = f.Len()
	}
	return res, nil
}

// Unlock opens the vault with a passphrase and moves every secret into
// locked memory. The passphrase is wiped by the caller (protocol.Handle).
func (a *Agent) Unlock(ctx context.Context, args protocol.UnlockArgs) (*protocol.UnlockResult, error) {
	peer, err := a.authorize(ctx, protocol.OpUnlock)
	if err != nil {
		return nil, err
	}
	if len(args.Passphrase) == 0 {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "unlock needs a passphrase")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.kr.Locked() {
		return nil, protocol.Errorf(protocol.CodeAlreadyUnlocked, "the agent is already unlocked")
	}
	start := time.Now()
	if fi, err := os.Stat(a.cfg.VaultPath); err == nil {
		defer boundHeap(2*fi.Size() + 128<<20)()
	}
	f, err := vault.Open(a.cfg.VaultPath)
	if err != nil {
		return nil, a.vaultError("unlock", err)
	}
	n := f.Len() // not Records: a copy of every record's metadata, for a count
	var v *vault.Vault
	err = a.kr.Unlock(n, f.SecretBytes(), func(put func(keyring.Credential, int) ([]byte, error)) error {
		var err error
		v, err = f.Unlock(args.Passphrase, func(r vault.Record, n int) ([]byte, error) {
			return put(credentialOf(r), n)
		})
		// Argon2id ran under runtime/secret, which erases what it left of
		// the passphrase on the heap only when a collection finds it
		// unreachable: collect now, not when the heap next fills (with a
		// large live heap, minutes away). Here, before the keyring starts
		// its idle timer.
		runtime.GC()
		return err
	})
	if err != nil {
		if errors.Is(err, vault.ErrWrongPassphrase) {
			a.log.Warn("unlock refused: wrong passphrase", "uid", peer.UID, "pid", peer.PID)
		}
		return nil, a.vaultError("unlock", err)
	}
	if n >= releaseAfter {
		releaseGarbage()
	}
	a.closeVaultLocked()
	a.vault = v
	defer a.stateChanged()
	a.log.Info("unlocked", "credentials", n, "uid", peer.UID, "duration", time.Since(start).Round(time.Millisecond))
	return &protocol.UnlockResult{Credentials: n}, nil
}

// Lock wipes every plaintext secret at once.
func (a *Agent) Lock(ctx context.Context) error {
	peer, err := a.authorize(ctx, protocol.OpLock)
	if err != nil {
		return err
	}
	defer collectKeyGarbage() // after the keyring is wiped and a.mu released
	a.mu.Lock()
	defer a.mu.Unlock()
	a.kr.Lock("locked by uid " + fmt.Sprint(peer.UID))
	a.closeVaultLocked()
	defer a.stateChanged()
	a.log.Info("locked", "uid", peer.UID, "pid", peer.PID)
	return nil
}

// LockNow locks the agent on the owner's behalf outside any connection,
// as on SIGUSR1.
func (a *Agent) LockNow(reason string) {
	defer collectKeyGarbage()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.kr.Lock(reason)
	a.closeVaultLocked()
	defer a.stateChanged()
	a.log.Info("locked", "reason", reason)
}

// autoLocked runs after the keyring locked itself (idle or max time).
func (a *Agent) autoLocked(reason string) {
	defer collectKeyGarbage()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.kr.Locked() {
		a.closeVaultLocked()
	}
	defer a.stateChanged()
	a.log.Info("locked", "reason", reason)
}

// closeVaultLocked drops the unlocked vault and its data key. a.mu held.
func (a *Agent) closeVaultLocked() {
	// Kept-alive venue connections go with the secrets: nothing of a
	// session that carried a clear secret outlives the lock.
	a.fwd.CloseIdle()
	if a.vault != nil {
		a.vault.Close()
		a.vault = nil
	}
}

// Add seals a new credential into the vault and unlocks it at once.
func (a *Agent) Add(ctx context.Context, args protocol.AddArgs) (*protocol.CredentialInfo, error) {
	peer, err := a.authorize(ctx, protocol.OpAdd)
	if err != nil {
		return nil, err
	}
	if err := vault.ValidName(args.Name); err != nil {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "%v", err)
	}
	if a.kr.Locked() {
		return nil, errLocked()
	}
	sch, ok := scheme.Lookup(args.Scheme)
	if !ok {
		return nil, protocol.Errorf(protocol.CodeUnsupported, "unknown scheme %q: this agent knows %s", args.Scheme, strings.Join(scheme.Names(), ", "))
	}
	if args.APIKey == "" {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "credential %q needs an API key (the public key id the venue shows)", args.Name)
	}
	if len(args.Secret) == 0 {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "credential %q needs a secret", args.Name)
	}
	if err := validMeta(args.Meta); err != nil {
		return nil, err
	}
	if err := checkAgentMeta(args.Meta); err != nil {
		return nil, err
	}
	stored, checked, err := a.prepareSecret(sch, args.Name, args.APIKey, args.Secret, args.Passphrase, args.Meta)
	if err != nil {
		return nil, err
	}
	defer clear(stored)
	meta := make(map[string]string, len(args.Meta)+1)
	for k, v := range args.Meta {
		meta[k] = v
	}
	if checked.KeyType != "" {
		meta[scheme.MetaKeyType] = checked.KeyType
	}
	if _, err := a.kr.Credential(args.Name); err == nil {
		// Before asking the venue: the name is taken either way.
		return nil, a.keyringError(args.Name, keyring.ErrExists)
	}
	if err := a.verifyKey(ctx, sch, args, meta, stored); err != nil {
		a.log.Warn("credential refused", "credential", args.Name, "scheme", args.Scheme, "reason", err.Error())
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.vault == nil {
		return nil, errLocked()
	}
	rec := vault.Record{Name: args.Name, Scheme: args.Scheme, APIKey: args.APIKey, Meta: meta}
	if err := a.kr.Add(credentialOf(rec), stored); err != nil {
		return nil, a.keyringError(args.Name, err)
	}
	if err := a.vault.Add(rec, stored); err != nil {
		a.kr.Remove(args.Name)
		return nil, a.vaultError("add", err)
	}
	for _, r := range a.vault.Records() {
		if r.Name == args.Name {
			rec = r
		}
	}
	defer a.stateChanged()
	a.garbage.signed(checked.KeyType) // Check parsed the key on the heap
	a.log.Info("credential added", "credential", args.Name, "scheme", args.Scheme, "key_type", checked.KeyType, "uid", peer.UID)
	a.auditAdmin(ctx, peer, protocol.OpAdd, args.Name)
	ci := a.infoOf(rec)
	return &ci, nil
}

// validMeta bounds public metadata and checks the keys the agent reads.
func validMeta(m map[string]string) error {
	if len(m) > 32 {
		return protocol.Errorf(protocol.CodeBadRequest, "at most 32 metadata entries")
	}
	for k, v := range m {
		if k == "" || len(k) > 64 || len(v) > 4096 {
			return protocol.Errorf(protocol.CodeBadRequest, "metadata key %.64q: keys are 1-64 bytes, values at most 4096", k)
		}
	}
	if hosts, ok := m["hosts"]; ok {
		for _, h := range strings.Split(hosts, ",") {
			if h = strings.TrimSpace(h); h == "" || strings.ContainsAny(h, "/:@ ") {
				return protocol.Errorf(protocol.CodeBadRequest, "metadata hosts: %q is not a host name (give names like api.example.com, comma-separated)", h)
			}
		}
	}
	return nil
}

// List returns every credential's public part; it works while locked.
func (a *Agent) List(ctx context.Context) (*protocol.ListResult, error) {
	id, err := a.authorize(ctx, protocol.OpList)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	v := a.vault
	var recs []vault.Record
	if v != nil {
		recs = v.Records()
	}
	a.mu.Unlock()
	if v == nil {
		f, err := vault.Open(a.cfg.VaultPath)
		if err != nil {
			return nil, a.vaultError("list", err)
		}
		recs = f.Records()
	}
	res := &protocol.ListResult{Credentials: make([]protocol.CredentialInfo, 0, len(recs))}
	for _, r := range recs {
		if a.canSee(id, r.Name) {
			res.Credentials = append(res.Credentials, a.infoOf(r))
		}
	}
	return res, nil
}

// Remove deletes a credential from the vault for good and wipes it.
func (a *Agent) Remove(ctx context.Context, args protocol.RemoveArgs) error {
	peer, err := a.authorize(ctx, protocol.OpRemove)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.vault == nil {
		return errLocked()
	}
	if err := a.vault.Remove(args.Name); err != nil {
		if errors.Is(err, vault.ErrNoRecord) {
			return unknownCredential(args.Name)
		}
		return a.vaultError("remove", err)
	}
	if err := a.kr.Remove(args.Name); err != nil && !errors.Is(err, keyring.ErrUnknown) {
		return a.keyringError(args.Name, err)
	}
	a.usage.forget(args.Name)
	a.auditAdmin(ctx, peer, protocol.OpRemove, args.Name)
	if err := a.nonces.Forget(args.Name); err != nil {
		a.log.Warn("could not drop the removed credential's nonce marks", "credential", args.Name, "err", err)
	}
	defer a.stateChanged()
	a.log.Info("credential removed", "credential", args.Name, "uid", peer.UID)
	return nil
}

// ChangePassphrase re-wraps the vault's data key under a new passphrase,
// after checking the current one.
func (a *Agent) ChangePassphrase(ctx context.Context, args protocol.PasswdArgs) error {
	peer, err := a.authorize(ctx, protocol.OpPasswd)
	if err != nil {
		return err
	}
	if len(args.Passphrase) == 0 || len(args.NewPassphrase) == 0 {
		return protocol.Errorf(protocol.CodeBadRequest, "passwd needs the current and the new passphrase")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.vault == nil {
		return errLocked()
	}
	if err := a.vault.CheckPassphrase(args.Passphrase); err != nil {
		return a.vaultError("passwd", err)
	}
	if err := a.vault.ChangePassphrase(args.NewPassphrase, a.vault.Params()); err != nil {
		return a.vaultError("passwd", err)
	}
	a.log.Info("passphrase changed", "uid", peer.UID)
	return nil
}

// Sign signs a request with a credential. The policy decides first (the
// same words whether or not a credential the client may not use exists),
// then the secret is lent from locked memory for the length of the
// scheme's call and never leaves it. Every outcome is audited.
func (a *Agent) Sign(ctx context.Context, args protocol.SignArgs) (res *protocol.HTTPRequest, err error) {
	start := time.Now()
	peer, err := a.authorize(ctx, protocol.OpSign)
	if err != nil {
		host, path := hostPath(args.URL)
		a.audit(AuditEvent{Time: a.now(), Client: peer, Op: protocol.OpSign, Credential: args.Credential, Method: args.Method,
			Host: host, Path: path, Params: paramsHash(args.URL, args.Body), Decision: "deny", Rule: "connection", Reason: err.Error(), Latency: time.Since(start)})
		return nil, err
	}
	if args.Credential == "" {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "sign needs a credential name")
	}
	u, err := fasturl.Parse(args.URL)
	if err != nil || u.Host == "" {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "url %.200q is not an absolute URL", args.URL)
	}
	if args.Method == "" {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "sign needs an HTTP method (or WS for a WebSocket message)")
	}
	method := strings.ToUpper(args.Method)
	switch {
	case method == protocol.MethodWS && u.Scheme != "wss":
		return nil, protocol.Errorf(protocol.CodeBadRequest, "a WebSocket message (method WS) goes to a wss:// URL, not %s://", u.Scheme)
	case method != protocol.MethodWS && u.Scheme != "https":
		return nil, protocol.Errorf(protocol.CodeBadRequest, "keyward signs only https URLs (and wss:// for method WS), not %s://", u.Scheme)
	}
	host, path := strings.ToLower(u.Hostname), u.EscapedPath
	now := a.now()

	// The scheme decides which catalogue applies; a credential the keyring
	// does not hold (or a locked keyring) has none, and the policy then
	// answers as for any credential the client has no grant for.
	schemeName, _ := a.kr.Scheme(args.Credential)
	ev := AuditEvent{Time: now, Client: peer, Op: protocol.OpSign, Credential: args.Credential, Method: method,
		Host: host, Path: path, Params: paramsHash(args.URL, args.Body)}
	defer func() {
		ev.Latency = time.Since(start)
		if err != nil && ev.Decision == "" {
			ev.Decision = "error"
			ev.Reason = err.Error()
		}
		a.audit(ev)
	}()
	d, err := a.admitUse(peer, protocol.OpSign, args.Credential, schemeName, method, args.URL, host, path, args.Body, now)
	ev.Rule = d.Rule
	if err != nil {
		ev.Decision, ev.Reason = "deny", d.Reason
		a.log.Warn("sign denied", "credential", args.Credential, "host", host, "uid", peer.UID, "pid", peer.PID, "unit", peer.Unit, "rule", d.Rule, "reason", d.Reason)
		return nil, err
	}

	out, keyType, err := a.signWithKey(args.Credential, scheme.Request{Method: method, URL: args.URL, Headers: args.Headers, Body: args.Body}, host, now, forBot)
	if err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) && pe.Code == protocol.CodeDenied {
			ev.Decision, ev.Reason, ev.Rule = "deny", pe.Message, "credential hosts"
			a.log.Warn("sign denied", "credential", args.Credential, "host", host, "uid", peer.UID, "pid", peer.PID)
		}
		return nil, err
	}
	ev.Decision = "allow"
	a.usage.touch(args.Credential, now)
	a.garbage.signed(keyType)
	if a.log.Enabled(ctx, slog.LevelDebug) {
		a.log.Debug("signed", "credential", args.Credential, "method", out.Method, "host", host, "path", u.Path, "uid", peer.UID, "pid", peer.PID)
	}
	return &protocol.HTTPRequest{Method: out.Method, URL: out.URL, Headers: out.Headers, Body: out.Body}, nil
}

// signFor says who a signed request is for, which decides what the
// credential's scheme may put in it.
type signFor int

const (
	// forBot: sign mode. A ForwardOnly scheme is refused.
	forBot signFor = iota
	// forForwardNoSecret: forward mode, the request built outside
	// erase.Do. A scheme that puts a secret in clear in it (ForwardOnly, or
	// ClearSecrets such as a passphrase) is refused with CodeForwardOnly,
	// for the caller to build it again under erase.Do: the credential was
	// replaced since the caller looked its scheme up.
	forForwardNoSecret
	// forForward: forward mode under erase.Do; every scheme signs.
	forForward
)

// signWithKey signs req with the named credential: the secret is lent
// from locked memory for the length of the scheme's call. host is req's
// host, lower case; to says who the request is for (see signFor). Errors
// are wire errors.
func (a *Agent) signWithKey(name string, req scheme.Request, host string, now time.Time, to signFor) (out scheme.Request, keyType string, err error) {
	err = a.kr.Use(name, func(c keyring.Credential, secret, scratch []byte) error {
		keyType = c.Meta[scheme.MetaKeyType]
		s, ok := scheme.Lookup(c.Scheme)
		if !ok {
			return protocol.Errorf(protocol.CodeUnsupported, "credential %q uses scheme %q, which this agent does not know", c.Name, c.Scheme)
		}
		info := scheme.InfoOf(s)
		if to == forForwardNoSecret && (info.ForwardOnly || len(info.ClearSecrets) > 0) {
			return protocol.Errorf(protocol.CodeForwardOnly, "credential %q now uses scheme %s, whose requests carry a secret in clear", c.Name, c.Scheme)
		}
		if info.ForwardOnly && to == forBot {
			return protocol.Errorf(protocol.CodeForwardOnly, "credential %q uses scheme %s, which sends its secret in clear on every request, so the agent does not hand its requests to bots: use forward (the Go, Python and JS clients' transports do it by default; `keyward forward %s METHOD URL` on the command line)", c.Name, c.Scheme, c.Name)
		}
		if !scheme.HostAllowed(s, c.Meta, host) {
			return protocol.Errorf(protocol.CodeDenied, "credential %q signs only for %s hosts (%s), not %s: add other hosts with `keyward add --host`", c.Name, c.Scheme, strings.Join(scheme.AllowedHosts(s, c.Meta), ", "), host)
		}
		if req.Method == protocol.MethodWS && !info.WebSocket {
			return protocol.Errorf(protocol.CodeUnsupported, "scheme %s signs HTTP requests only, not WebSocket messages", c.Scheme)
		}
		in := scheme.Input{
			Request: req,
			APIKey:  c.APIKey,
			KeyType: c.Meta[scheme.MetaKeyType],
			Secret:  secret,
			Scratch: scratch,
			Meta:    c.Meta,
			Now:     a.clocks.correct(host, now),
		}
		if info.Passphrase != scheme.PassphraseNone {
			var err error
			if in.Secret, in.Passphrase, err = scheme.UnpackSecret(secret); err != nil {
				return fmt.Errorf("credential %q: %w", c.Name, err)
			}
		}
		var nonceErr error
		at := in.Now // not in.Now: capturing in would move it to the heap
		in.Nonce = func(unit time.Duration) uint64 {
			n, err := a.nonces.Next(strings.TrimPrefix(c.Name, verifyPrefix), unit, at)
			if err != nil && nonceErr == nil {
				nonceErr = err
			}
			return n
		}
		var err error
		out, err = s.Sign(in)
		if nonceErr != nil {
			a.log.Error("nonce store", "credential", c.Name, "err", nonceErr)
			return protocol.Errorf(protocol.CodeInternal, "the agent cannot keep nonces increasing for %q, so it refuses to sign: %v", c.Name, nonceErr)
		}
		return err
	})
	if err != nil {
		var re *scheme.RequestError
		var pe *protocol.Error
		switch {
		case errors.As(err, &pe):
			return out, keyType, pe
		case errors.As(err, &re):
			return out, keyType, protocol.Errorf(protocol.CodeBadRequest, "%s", re.Msg)
		default:
			return out, keyType, a.keyringError(name, err)
		}
	}
	return out, keyType, nil
}

func credentialOf(r vault.Record) keyring.Credential {
	return keyring.Credential{Name: r.Name, Scheme: r.Scheme, APIKey: r.APIKey, Meta: r.Meta}
}

func infoOf(r vault.Record) protocol.CredentialInfo {
	return protocol.CredentialInfo{
		Name: r.Name, Scheme: r.Scheme, APIKey: r.APIKey, Meta: r.Meta,
		Created: r.Created, Rotated: r.Rotated, Version: r.Version,
	}
}

func errLocked() *protocol.Error {
	return protocol.Errorf(protocol.CodeLocked, "the agent is locked: run `keyward unlock`")
}

func unknownCredential(name string) *protocol.Error {
	return protocol.Errorf(protocol.CodeUnknownCredential, "no credential named %q: see `keyward list`", name)
}

// keyringError turns a keyring error into a wire error.
func (a *Agent) keyringError(name string, err error) error {
	switch {
	case errors.Is(err, keyring.ErrLocked):
		return errLocked()
	case errors.Is(err, keyring.ErrUnknown):
		return unknownCredential(name)
	case errors.Is(err, keyring.ErrExists):
		return protocol.Errorf(protocol.CodeExists, "a credential named %q exists already: remove it first with `keyward rm %s`", name, name)
	case errors.Is(err, keyring.ErrMemlock):
		a.log.Error("cannot lock memory for secrets", "err", err)
		return protocol.Errorf(protocol.CodeMemlock, "%v", err)
	}
	a.log.Error("keyring", "credential", name, "err", err)
	return protocol.ErrorReply(0, err).Error
}

// vaultError turns a vault error into a wire error. Vault errors never
// carry secret material, so their text is safe to pass on to the owner.
func (a *Agent) vaultError(op string, err error) error {
	switch {
	case errors.Is(err, vault.ErrNotExist), errors.Is(err, fs.ErrNotExist):
		return protocol.Errorf(protocol.CodeNoVault, "there is no vault at %s: create one with `keyward init`", a.cfg.VaultPath)
	case errors.Is(err, vault.ErrWrongPassphrase):
		return protocol.Errorf(protocol.CodeWrongPassphrase, "wrong passphrase: the vault was not unlocked")
	case errors.Is(err, vault.ErrRecordExists), errors.Is(err, keyring.ErrExists):
		return protocol.Errorf(protocol.CodeExists, "%v", err)
	case errors.Is(err, keyring.ErrMemlock):
		a.log.Error("cannot lock memory for secrets", "op", op, "err", err)
		return protocol.Errorf(protocol.CodeMemlock, "%v", err)
	case errors.Is(err, vault.ErrCorrupt), errors.Is(err, vault.ErrTampered),
		errors.Is(err, vault.ErrPermissions), errors.Is(err, vault.ErrUnsupportedVersion),
		errors.Is(err, vault.ErrNotRegular):
		a.log.Error("vault unusable", "op", op, "err", err)
		return protocol.Errorf(protocol.CodeVault, "%v", err)
	}
	a.log.Error("vault", "op", op, "err", err)
	if errors.Is(err, os.ErrPermission) {
		return protocol.Errorf(protocol.CodeVault, "%v", err)
	}
	return protocol.ErrorReply(0, err).Error
}
