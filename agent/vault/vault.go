package vault

import (
	"bytes"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/awnumar/memguard"
	"golang.org/x/sys/unix"
)

// Create writes a new, empty vault at path. It refuses to replace anything
// already there (ErrExists), even a file created by a racing Create between
// its check and its write. Missing parent directories are created 0700, the
// file 0600. The passphrase is not retained. Params below DefaultParams are
// for tests only.
func Create(path string, passphrase []byte, p Params) error {
	return create(path, passphrase, p, nil)
}

func create(path string, passphrase []byte, p Params, hook faultHook) error {
	fail := func(err error) error { return fmt.Errorf("vault: create %s: %w", path, err) }
	if err := p.validate(); err != nil {
		return fail(err)
	}
	if len(passphrase) == 0 {
		return fail(errors.New("the passphrase is empty"))
	}
	exists := func() error {
		return fail(fmt.Errorf("%w: move it away first to start over (it may hold credentials)", ErrExists))
	}
	// Checked before the slow KDF; writeAtomic checks again, atomically.
	if _, err := os.Lstat(path); err == nil {
		return exists()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fail(err)
	}

	dataKey := memguard.NewBufferRandom(keySize)
	defer dataKey.Destroy()
	salt := random(saltSize)
	header := []byte(versionLine + "\n" + kdfLine(p, salt))
	kek := deriveKEK(passphrase, salt, p)
	nonce := random(nonceSize)
	wrapped := newGCM(kek).Seal(nil, nonce, dataKey.Bytes(), header)
	clear(kek)
	body := append(header, keyLine(nonce, wrapped)...)
	data := appendTrailer(body, fileMAC(dataKey.Bytes(), body))
	if err := writeAtomic(path, data, true, hook); err != nil {
		if errors.Is(err, ErrExists) {
			return exists()
		}
		return fail(err)
	}
	return nil
}

// File is a vault file as read by Open: its metadata is readable while the
// vault is locked, but it is not authenticated until Unlock.
type File struct {
	path string
	p    *parsed
}

// Open reads and parses the vault at path without the passphrase. It refuses
// a file that group or others can access (ErrPermissions), a newer format
// (ErrUnsupportedVersion) and a damaged file (ErrCorrupt).
func Open(path string) (*File, error) {
	fail := func(err error) error { return fmt.Errorf("vault: open %s: %w", path, err) }
	// O_NOFOLLOW refuses a symbolic link (another user's link could point
	// the agent at a file of their choosing); O_NONBLOCK keeps a FIFO put
	// at the path from freezing the agent in open(2). Both are checked
	// again below on what was opened.
	fd, err := os.OpenFile(path, os.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fail(fmt.Errorf("%w: run `keyward init` to create one", ErrNotExist))
	}
	if errors.Is(err, unix.ELOOP) {
		return nil, fail(fmt.Errorf("%w: it is a symbolic link; point the agent at the vault file itself (--vault or KEYWARD_VAULT)", ErrNotRegular))
	}
	if err != nil {
		return nil, fail(err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fail(err)
	}
	if !st.Mode().IsRegular() {
		return nil, fail(fmt.Errorf("%w: it is a %s; point the agent at the vault file itself (--vault or KEYWARD_VAULT)", ErrNotRegular, fileKind(st.Mode())))
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fail(fmt.Errorf("%w: mode %04o lets other users access it: run `chmod 600 %s`", ErrPermissions, perm, shellQuote(path)))
	}
	if st.Size() > maxFileSize {
		return nil, fail(corrupt(0, "the file is larger than %d MiB", maxFileSize>>20))
	}
	// Read into one buffer of the file's size: io.ReadAll would reach a
	// vault of 100,000 records (~37 MiB) by growing, leaving about as much
	// again in garbage.
	var buf bytes.Buffer
	buf.Grow(int(st.Size()) + bytes.MinRead)
	if _, err := buf.ReadFrom(io.LimitReader(fd, maxFileSize+1)); err != nil {
		return nil, fail(err)
	}
	raw := buf.Bytes()
	p, err := parse(raw)
	if err != nil {
		return nil, fail(err)
	}
	return &File{path: path, p: p}, nil
}

// Path returns the path the file was opened from.
func (f *File) Path() string { return f.path }

// Params returns the file's Argon2id parameters.
func (f *File) Params() Params { return f.p.params }

// Len returns how many records the file holds, without copying them.
func (f *File) Len() int { return len(f.p.records) }

// Records returns copies of the records' metadata, sorted by name. They are
// not authenticated until Unlock succeeds.
func (f *File) Records() []Record {
	out := make([]Record, len(f.p.records))
	for i := range f.p.records {
		out[i] = f.p.records[i].rec.clone()
	}
	return out
}

// Unlock derives the key-encryption key from passphrase, unwraps the data
// key, verifies the file MAC and opens every record. For each record it calls
// dst(rec, n) for a buffer of length n, the secret's size, in memory the
// caller owns (locked memory), and decrypts the secret straight into it, so
// plaintext never touches the ordinary heap. dst is called only after the
// whole file has been authenticated. On error Unlock zeroes the buffers it
// decrypted into before returning, and the caller releases them.
func (f *File) Unlock(passphrase []byte, dst func(rec Record, n int) ([]byte, error)) (*Vault, error) {
	fail := func(err error) error { return fmt.Errorf("vault: unlock %s: %w", f.path, err) }
	p := f.p
	kek := deriveKEK(passphrase, p.salt, p.params)
	kekGCM := newGCM(kek)
	clear(kek)
	dataKey := memguard.NewBuffer(keySize)
	if _, err := kekGCM.Open(dataKey.Bytes()[:0], p.keyNonce, p.wrapped, p.header); err != nil {
		dataKey.Destroy()
		return nil, fail(ErrWrongPassphrase)
	}
	dataKey.Freeze()
	ok := false
	defer func() {
		if !ok {
			dataKey.Destroy()
		}
	}()
	if !hmac.Equal(fileMAC(dataKey.Bytes(), p.raw[:p.macEnd]), p.mac) {
		return nil, fail(fmt.Errorf("%w: the file MAC does not match (a record was added, removed, reordered or edited)", ErrTampered))
	}
	// On failure, wipe what was already decrypted: the caller still frees
	// the buffers but need not trust that it wiped them.
	var handed [][]byte
	defer func() {
		if !ok {
			for _, b := range handed {
				clear(b)
			}
		}
	}()
	for _, sr := range p.records {
		n := len(sr.sealed) - tagSize
		buf, err := dst(sr.rec.clone(), n)
		handed = append(handed, buf)
		if err != nil {
			return nil, fail(fmt.Errorf("credential %s: %w", sr.rec.Name, err))
		}
		if len(buf) != n {
			return nil, fail(fmt.Errorf("credential %s: dst returned %d bytes, want %d", sr.rec.Name, len(buf), n))
		}
		if _, err := recordGCM(dataKey.Bytes(), sr.salt).Open(buf[:0], sr.nonce, sr.sealed, recordAAD(sr.rec)); err != nil {
			return nil, fail(fmt.Errorf("%w: credential %s does not authenticate", ErrTampered, sr.rec.Name))
		}
	}
	// The Vault keeps each record's metadata and sealed parts, packed in
	// one buffer; not the file, which is garbage once Unlock returns.
	n := 0
	for i := range p.records {
		n += len(p.records[i].salt) + len(p.records[i].nonce) + len(p.records[i].sealed)
	}
	packed := make([]byte, 0, n)
	recs := make([]entry, len(p.records))
	for i := range p.records {
		sr := &p.records[i]
		off := len(packed)
		packed = append(append(append(packed, sr.salt...), sr.nonce...), sr.sealed...)
		recs[i] = entry{rec: sr.rec, sealed: packed[off:len(packed):len(packed)], lineLen: len(sr.line)}
	}
	v := &Vault{
		path:    f.path,
		params:  p.params,
		header:  slices.Clone(p.raw[:p.keyEnd]),
		dataKey: dataKey,
		records: recs,
	}
	ok = true
	return v, nil
}

// Vault is an unlocked vault. It holds the data key in a memguard
// LockedBuffer and the records sealed, as ciphertext; it never holds a
// plaintext secret. It is the only writer of its file (hold Lock to keep it
// so) and is safe for concurrent use.
type Vault struct {
	mu      sync.Mutex
	path    string
	params  Params
	header  []byte // the version, kdf and key lines
	dataKey *memguard.LockedBuffer
	records []entry   // sorted by name
	hook    faultHook // tests only
}

// entry is a record as a Vault keeps it: its metadata and its salt, nonce
// and ciphertext, from which each write encodes its line again. Parsing
// accepts only the canonical encoding, so the line comes out byte for byte
// as it was read; keeping the lines instead would keep the whole file
// (~37 MiB for 100,000 records, three times the sealed parts).
type entry struct {
	rec     Record // Meta may be shared with other records: never modified
	sealed  []byte // salt, nonce and ciphertext with its tag, in that order
	lineLen int    // the length of the record's line
}

// appendLine appends e's "record ...\n" line to b.
func (e *entry) appendLine(b []byte) []byte {
	return appendRecordLine(b, sealedRecord{
		rec:    e.rec,
		salt:   e.sealed[:recSaltSize],
		nonce:  e.sealed[recSaltSize : recSaltSize+nonceSize],
		sealed: e.sealed[recSaltSize+nonceSize:],
	})
}

// Path returns the vault file's path.
func (v *Vault) Path() string { return v.path }

// Records returns copies of the records' metadata, sorted by name.
func (v *Vault) Records() []Record {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]Record, len(v.records))
	for i := range v.records {
		out[i] = v.records[i].rec.clone()
	}
	return out
}

func (v *Vault) find(name string) (int, bool) {
	return slices.BinarySearchFunc(v.records, name, func(e entry, name string) int {
		return strings.Compare(e.rec.Name, name)
	})
}

// safeName is name if it is valid, for error messages: an invalid "name"
// might be a secret pasted into the wrong field.
func safeName(name string) string {
	if ValidName(name) != nil {
		return "(invalid name)"
	}
	return name
}

func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

// newRecord is a copy of rec as a new record: created and rotated at t
// and version 1 unless rec says otherwise.
func newRecord(rec Record, t time.Time) Record {
	rec = rec.clone()
	if rec.Created.IsZero() {
		rec.Created = t
	}
	if rec.Rotated.IsZero() {
		rec.Rotated = t
	}
	if rec.Version == 0 {
		rec.Version = 1
	}
	return rec
}

// Add seals secret as a new record and rewrites the file. Created and Rotated
// default to now and Version to 1; times are stored in UTC to the second.
// A name already present fails with ErrRecordExists and changes nothing.
func (v *Vault) Add(rec Record, secret []byte) error {
	fail := func(err error) error { return fmt.Errorf("vault: add %s: %w", safeName(rec.Name), err) }
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.dataKey.IsAlive() {
		return fail(ErrClosed)
	}
	rec = newRecord(rec, now())
	i, found := v.find(rec.Name)
	if found {
		return fail(fmt.Errorf("%w: remove it first or choose another name", ErrRecordExists))
	}
	if len(v.records) >= maxRecords {
		return fail(fmt.Errorf("the vault holds %d records, the limit", maxRecords))
	}
	sr, err := v.sealLocked(rec, secret)
	if err != nil {
		return fail(err)
	}
	return v.commitLocked(slices.Insert(slices.Clone(v.records), i, sr), nil, fail)
}

// Rotate replaces an existing record's secret (and its scheme, API key and
// metadata with rec's) in one write: Created is kept, Rotated becomes now and
// Version goes up by one. A missing name fails with ErrNoRecord.
func (v *Vault) Rotate(rec Record, secret []byte) error {
	fail := func(err error) error { return fmt.Errorf("vault: rotate %s: %w", safeName(rec.Name), err) }
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.dataKey.IsAlive() {
		return fail(ErrClosed)
	}
	i, found := v.find(rec.Name)
	if !found {
		return fail(fmt.Errorf("%w: add it instead", ErrNoRecord))
	}
	old := v.records[i].rec
	rec = rec.clone()
	if old.Version == ^uint32(0) {
		return fail(errors.New("version would overflow"))
	}
	rec.Created, rec.Rotated, rec.Version = old.Created, now(), old.Version+1
	if rec.Rotated.Before(rec.Created) { // the clock went back
		rec.Rotated = rec.Created
	}
	sr, err := v.sealLocked(rec, secret)
	if err != nil {
		return fail(err)
	}
	recs := slices.Clone(v.records)
	recs[i] = sr
	return v.commitLocked(recs, nil, fail)
}

// sealLocked validates rec and seals secret under a fresh record key. v.mu
// must be held.
func (v *Vault) sealLocked(rec Record, secret []byte) (entry, error) {
	rec.Created = rec.Created.UTC().Truncate(time.Second)
	rec.Rotated = rec.Rotated.UTC().Truncate(time.Second)
	if err := rec.validate(); err != nil {
		return entry{}, err
	}
	if len(secret) == 0 {
		return entry{}, errors.New("the secret is empty")
	}
	if len(secret) > MaxSecretSize {
		return entry{}, fmt.Errorf("the secret is %d bytes, the limit is %d", len(secret), MaxSecretSize)
	}
	sr := sealedRecord{rec: rec, salt: random(recSaltSize), nonce: random(nonceSize)}
	sr.sealed = recordGCM(v.dataKey.Bytes(), sr.salt).Seal(nil, sr.nonce, secret, recordAAD(rec))
	line := recordLine(sr)
	if len(line) > maxLine {
		return entry{}, fmt.Errorf("the record would be %d bytes, the limit is %d", len(line), maxLine)
	}
	return entry{rec: rec, sealed: slices.Concat(sr.salt, sr.nonce, sr.sealed), lineLen: len(line)}, nil
}

// Remove deletes the named record; its ciphertext is not in the new file.
func (v *Vault) Remove(name string) error {
	fail := func(err error) error { return fmt.Errorf("vault: remove %s: %w", safeName(name), err) }
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.dataKey.IsAlive() {
		return fail(ErrClosed)
	}
	i, found := v.find(name)
	if !found {
		return fail(ErrNoRecord)
	}
	return v.commitLocked(slices.Delete(slices.Clone(v.records), i, i+1), nil, fail)
}

// ChangePassphrase re-wraps the data key under a key derived from the new
// passphrase with a new salt and p. Records are untouched, byte for byte.
func (v *Vault) ChangePassphrase(newPassphrase []byte, p Params) error {
	fail := func(err error) error { return fmt.Errorf("vault: change passphrase of %s: %w", v.path, err) }
	if err := p.validate(); err != nil {
		return fail(err)
	}
	if len(newPassphrase) == 0 {
		return fail(errors.New("the new passphrase is empty"))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.dataKey.IsAlive() {
		return fail(ErrClosed)
	}
	salt := random(saltSize)
	header := []byte(versionLine + "\n" + kdfLine(p, salt))
	kek := deriveKEK(newPassphrase, salt, p)
	nonce := random(nonceSize)
	wrapped := newGCM(kek).Seal(nil, nonce, v.dataKey.Bytes(), header)
	clear(kek)
	header = append(header, keyLine(nonce, wrapped)...)
	if err := v.commitLocked(v.records, header, fail); err != nil {
		return err
	}
	v.params = p
	return nil
}

// commitLocked writes the file with recs (and header, if not nil) and adopts
// them only once the write succeeded. v.mu must be held.
func (v *Vault) commitLocked(recs []entry, header []byte, fail func(error) error) error {
	if header == nil {
		header = v.header
	}
	n := len(header)
	for i := range recs {
		n += recs[i].lineLen
	}
	body := make([]byte, 0, n+128)
	body = append(body, header...)
	for i := range recs {
		body = recs[i].appendLine(body)
	}
	data := appendTrailer(body, fileMAC(v.dataKey.Bytes(), body))
	if err := writeAtomic(v.path, data, false, v.hook); err != nil {
		return fail(fmt.Errorf("write %s: %w", v.path, err))
	}
	v.records, v.header = recs, header
	return nil
}

// Close destroys the data key. The Vault cannot be used afterwards.
func (v *Vault) Close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.dataKey.Destroy()
	v.records = nil
}

// Params returns the Argon2id parameters the vault's passphrase is under.
func (v *Vault) Params() Params {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.params
}

// CheckPassphrase reports whether passphrase opens the vault as it now
// stands on disk: nil, or ErrWrongPassphrase. It costs one Argon2id
// derivation; the unwrapped key goes to locked memory and is destroyed.
func (v *Vault) CheckPassphrase(passphrase []byte) error {
	v.mu.Lock()
	header := v.header
	alive := v.dataKey.IsAlive()
	v.mu.Unlock()
	if !alive {
		return fmt.Errorf("vault: check passphrase: %w", ErrClosed)
	}
	lines := bytes.SplitAfterN(header, []byte("\n"), 4)
	if len(lines) < 3 {
		return fmt.Errorf("vault: check passphrase: %w", corrupt(0, "header"))
	}
	params, salt, err := parseKDF(bytes.TrimSuffix(lines[1], []byte("\n")))
	if err != nil {
		return fmt.Errorf("vault: check passphrase: %w", err)
	}
	nonce, wrapped, err := parseKey(bytes.TrimSuffix(lines[2], []byte("\n")))
	if err != nil {
		return fmt.Errorf("vault: check passphrase: %w", err)
	}
	kek := deriveKEK(passphrase, salt, params)
	gcm := newGCM(kek)
	clear(kek)
	key := memguard.NewBuffer(keySize)
	defer key.Destroy()
	aad := header[:len(lines[0])+len(lines[1])]
	if _, err := gcm.Open(key.Bytes()[:0], nonce, wrapped, aad); err != nil {
		return fmt.Errorf("vault: check passphrase: %w", ErrWrongPassphrase)
	}
	return nil
}

// SecretBytes returns the total size of every record's secret, so a caller
// can reserve locked memory for all of them at once before Unlock.
func (f *File) SecretBytes() int {
	n := 0
	for _, sr := range f.p.records {
		n += len(sr.sealed) - tagSize
	}
	return n
}

// fileKind names a non-regular file's type for messages.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	}
	return "special file"
}
