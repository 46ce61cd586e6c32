package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"sync"
	"time"

	"github.com/keyward/keyward/agent/scheme"
	"github.com/keyward/keyward/agent/vault"
	"github.com/keyward/keyward/internal/atomicfile"
	"github.com/keyward/keyward/protocol"
)

// This file is the key lifecycle: rotation, key age, and the removal of
// keys unused for longer than the policy allows.

// Rotate replaces a credential's secret with a new one the venue issued:
// the vault record is resealed in one write (version and rotation date
// kept), the keyring swaps the secret in one step, and the old secret is
// wiped. Bots keep working without a restart.
func (a *Agent) Rotate(ctx context.Context, args protocol.RotateArgs) (*protocol.CredentialInfo, error) {
	peer, err := a.authorize(ctx, protocol.OpRotate)
	if err != nil {
		return nil, err
	}
	if a.kr.Locked() {
		return nil, errLocked()
	}
	if len(args.Secret) == 0 {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "rotate needs the new secret")
	}
	cred, err := a.kr.Credential(args.Name)
	if err != nil {
		return nil, a.keyringError(args.Name, err)
	}
	sch, ok := scheme.Lookup(cred.Scheme)
	if !ok {
		return nil, protocol.Errorf(protocol.CodeUnsupported, "credential %q uses scheme %q, which this agent does not know", cred.Name, cred.Scheme)
	}
	apiKey := cred.APIKey
	if args.APIKey != "" {
		apiKey = args.APIKey
	}
	meta := make(map[string]string, len(cred.Meta))
	for k, v := range cred.Meta {
		if k != scheme.MetaKeyType {
			meta[k] = v
		}
	}
	stored, checked, err := a.prepareSecret(sch, args.Name, apiKey, args.Secret, args.Passphrase, meta)
	if err != nil {
		return nil, err
	}
	defer clear(stored)
	if checked.KeyType != "" {
		meta[scheme.MetaKeyType] = checked.KeyType
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.vault == nil {
		return nil, errLocked()
	}
	rec := vault.Record{Name: args.Name, Scheme: cred.Scheme, APIKey: apiKey, Meta: meta}
	if err := a.vault.Rotate(rec, stored); err != nil {
		if errors.Is(err, vault.ErrNoRecord) {
			return nil, unknownCredential(args.Name)
		}
		return nil, a.vaultError("rotate", err)
	}
	if err := a.kr.Replace(credentialOf(rec), stored); err != nil {
		// The vault holds the new key and the keyring cannot: lock, so
		// that nothing signs with the old one, and say so.
		a.kr.Lock("rotation could not reach locked memory")
		a.closeVaultLocked()
		a.log.Error("rotated in the vault but not in memory: locked", "credential", args.Name, "err", err)
		return nil, protocol.Errorf(protocol.CodeMemlock, "the new key is sealed in the vault but could not be moved into locked memory, so the agent locked itself: unlock again (%v)", err)
	}
	for _, r := range a.vault.Records() {
		if r.Name == args.Name {
			rec = r
		}
	}
	a.garbage.signed(checked.KeyType)
	a.log.Info("credential rotated", "credential", args.Name, "version", rec.Version, "uid", peer.UID)
	a.auditAdmin(ctx, peer, protocol.OpRotate, args.Name)
	info := a.infoOf(rec)
	return &info, nil
}

// prepareSecret checks a key with its scheme and returns what the vault and
// keyring store (the checked form, packed with the passphrase when the
// scheme takes one) in a fresh buffer the caller wipes.
func (a *Agent) prepareSecret(sch scheme.Scheme, name, apiKey string, secret, passphrase []byte, meta map[string]string) ([]byte, scheme.Checked, error) {
	info := sch.Info()
	switch {
	case info.Passphrase == scheme.PassphraseRequired && len(passphrase) == 0:
		return nil, scheme.Checked{}, protocol.Errorf(protocol.CodeBadRequest, "%s keys come with a passphrase (the one chosen when the key was made): give it with --passphrase-file, or at the prompt", sch.Name())
	case info.Passphrase == scheme.PassphraseNone && len(passphrase) > 0:
		return nil, scheme.Checked{}, protocol.Errorf(protocol.CodeBadRequest, "%s keys have no passphrase: leave it out", sch.Name())
	}
	checked, err := sch.Check(scheme.Key{APIKey: apiKey, Secret: secret, Passphrase: passphrase, Meta: meta})
	if err != nil {
		var re *scheme.RequestError
		if errors.As(err, &re) {
			return nil, checked, protocol.Errorf(protocol.CodeBadRequest, "%s", re.Msg)
		}
		a.log.Error("checking a key", "scheme", sch.Name(), "credential", name, "err", err)
		return nil, checked, protocol.Errorf(protocol.CodeInternal, "checking the key failed; see the agent's log")
	}
	form := secret
	if checked.Secret != nil {
		defer clear(checked.Secret)
		form = checked.Secret
	}
	if info.Passphrase != scheme.PassphraseNone {
		packed, err := scheme.PackSecret(form, passphrase)
		if err != nil {
			return nil, checked, protocol.Errorf(protocol.CodeBadRequest, "%v", err)
		}
		return packed, checked, nil
	}
	out := make([]byte, len(form))
	copy(out, form)
	return out, checked, nil
}

// infoOf is a record's public part with its age and use as the policy
// judges them.
func (a *Agent) infoOf(r vault.Record) protocol.CredentialInfo {
	info := infoOf(r)
	rules := a.cfg.Policy.Policy().Credential(r.Name)
	now := a.now()
	if rules.RotationPeriod > 0 && now.Sub(r.Rotated) > rules.RotationPeriod {
		info.RotationDue = true
	}
	if last, ok := a.usage.last(r.Name); ok {
		info.LastUsed = last
	}
	if rules.ExpireUnused > 0 {
		info.ExpiresAt = a.usage.lastOr(r.Name, r.Rotated).Add(rules.ExpireUnused)
	}
	return info
}

// ExpireWarning is how long before an unused key's removal the agent warns.
const ExpireWarning = 7 * 24 * time.Hour

// ExpireUnused removes the keys the policy says have gone unused too long,
// and warns about those within ExpireWarning of it. The agent runs it
// hourly while unlocked; it returns the names removed.
func (a *Agent) ExpireUnused() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.vault == nil {
		return nil
	}
	p := a.cfg.Policy.Policy()
	now := a.now()
	var removed []string
	for _, r := range a.vault.Records() {
		rules := p.Credential(r.Name)
		if rules.ExpireUnused <= 0 {
			continue
		}
		last := a.usage.lastOr(r.Name, r.Rotated)
		at := last.Add(rules.ExpireUnused)
		switch {
		case !now.Before(at):
			if err := a.vault.Remove(r.Name); err != nil {
				a.log.Error("expiring an unused key", "credential", r.Name, "err", err)
				continue
			}
			a.kr.Remove(r.Name)
			a.nonces.Forget(r.Name)
			a.usage.forget(r.Name)
			removed = append(removed, r.Name)
			a.log.Warn("removed a key unused for longer than expire_unused", "credential", r.Name, "last_used", last, "expire_unused", rules.ExpireUnused)
			a.auditSystem("expire", r.Name, fmt.Sprintf("unused since %s (expire_unused %s)", last.Format(time.RFC3339), rules.ExpireUnused))
		case now.After(at.Add(-ExpireWarning)):
			a.log.Warn("a key will be removed soon for lack of use", "credential", r.Name, "removal_at", at)
		}
	}
	if len(removed) > 0 {
		a.stateChanged()
	}
	return removed
}

// usageTracker remembers when each credential last signed, in memory on
// every use and on disk at most once a minute (it need not be exact: it
// decides removals measured in days).
type usageTracker struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	used    map[string]time.Time
	dirty   bool
	savedAt time.Time
	// wmu orders the writes of the file: a save takes it before its
	// snapshot, so an older snapshot never lands after a newer one.
	wmu sync.Mutex
}

func newUsageTracker(path string, log *slog.Logger) *usageTracker {
	u := &usageTracker{path: path, log: log, used: map[string]time.Time{}}
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		log.Warn("cannot read key usage times; expire_unused counts from each key's rotation", "file", path, "err", err)
	default:
		if err := json.Unmarshal(raw, &u.used); err != nil {
			log.Warn("key usage file is damaged; expire_unused counts from each key's rotation", "file", path)
			u.used = map[string]time.Time{}
		}
	}
	return u
}

// touch records a use. It runs on every signature, so the once-a-minute
// save it may start runs in a goroutine of its own: encoding the times
// and writing the file (with an fsync) would otherwise hold up this
// signature and every other one waiting for mu.
func (u *usageTracker) touch(name string, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.used[name] = now
	u.dirty = true
	if now.Sub(u.savedAt) >= time.Minute {
		u.savedAt = now
		go u.save()
	}
}

func (u *usageTracker) last(name string) (time.Time, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	t, ok := u.used[name]
	return t, ok
}

func (u *usageTracker) lastOr(name string, def time.Time) time.Time {
	if t, ok := u.last(name); ok && t.After(def) {
		return t
	}
	return def
}

func (u *usageTracker) forget(name string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.used, name)
	u.dirty = true
}

// flush writes the times if they changed; for shutdown.
func (u *usageTracker) flush() { u.save() }

// save writes the times if they changed, outside mu.
func (u *usageTracker) save() {
	u.wmu.Lock()
	defer u.wmu.Unlock()
	u.mu.Lock()
	if !u.dirty {
		u.mu.Unlock()
		return
	}
	snap := maps.Clone(u.used)
	u.dirty = false
	u.mu.Unlock()
	raw, err := json.Marshal(snap)
	if err == nil {
		err = atomicfile.Write(u.path, raw)
	}
	if err != nil {
		u.log.Warn("cannot save key usage times", "err", err)
		u.mu.Lock()
		u.dirty = true // try again at the next save
		u.mu.Unlock()
	}
}

// Maintain runs the agent's periodic housekeeping until ctx ends: hourly,
// it removes keys unused for longer than expire_unused (warning a week
// before) and saves the key usage times.
func (a *Agent) Maintain(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			a.usage.flush()
			return
		case <-t.C:
			a.ExpireUnused()
			a.usage.flush()
		}
	}
}

// SetLockTimers changes lock-after and lock-idle while the agent runs (a
// SIGHUP reload of the settings file).
func (a *Agent) SetLockTimers(after, idle time.Duration) {
	a.kr.SetTimers(after, idle)
	a.log.Info("lock timers changed", "lock_after", after.String(), "lock_idle", idle.String())
}

// ReloadPolicy re-reads the policy file (SIGHUP); a bad file is logged and
// the policy in force stays.
func (a *Agent) ReloadPolicy() {
	if a.cfg.Policy != nil {
		a.cfg.Policy.Reload()
	}
}
