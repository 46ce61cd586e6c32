package keyring

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"maps"
	"math"
	"unsafe"
)

// table is an unlocked keyring's index of credentials by name, laid out for
// a platform's worth of them (100,000 and more) at the cost of one:
//
//   - Nothing in it that grows with the number of credentials holds a Go
//     pointer: each credential is a record of bytes (a fixed header, then
//     its name and API key) in one buffer, and the hash index is a slice
//     of integers. The garbage collector neither scans nor marks anything
//     per credential, so a collection costs the same with 100,000
//     credentials as with one, and 100,000 take ~8 MiB of ordinary heap
//     instead of a map of structs, strings and maps.
//   - A lookup reads one index slot and one record (the name, the API key
//     and where the secret is are side by side), so signing among 100,000
//     credentials costs two cache misses more than among one.
//   - Scheme and Meta are shared by every credential with the same ones (a
//     profile): a platform's credentials have a handful of distinct
//     profiles, not one map each. A profile's Meta is read-only.
//
// The table is not safe for concurrent use: the Keyring serialises writers
// and lets readers share.
type table struct {
	seed  maphash.Seed
	slots []uint64 // open addressing, linear probing: 0 empty, else hash<<32 | record offset/recAlign+1
	live  int      // records in the index

	// buf holds the records, each recAlign-aligned. Names and API keys,
	// once written, never change again, because the strings Use lends
	// point into buf (str); a record's header may change in place.
	buf  []byte
	dead int // bytes in buf of removed and replaced records

	profiles     []profile
	profileAt    map[uint64]uint32 // profile hash -> index+1 of the first profile with it
	freeProfiles []uint32
}

// A record is a header of little-endian uint32 fields, then the name and
// the API key.
const (
	hN        = 0  // the secret's length
	hChunk    = 4  // the secret's slot in the arena: chunk,
	hOff      = 8  // and offset (the slot's size is roundSlot(n))
	hProfile  = 12 // index in table.profiles
	hNameLen  = 16
	hKeyLen   = 20
	hdrSize   = 24
	recAlign  = 8
	maxSecret = 1 << 30
	maxBuf    = recAlign * (math.MaxUint32 - 1)
)

// profile is a scheme and metadata shared by credentials.
type profile struct {
	scheme string
	meta   map[string]string // read-only: every credential of the profile shares it
	hash   uint64
	refs   int    // records using it; 0: free
	next   uint32 // index+1 of the next profile with the same hash; 0: none
}

var errTooBig = errors.New("keyring: too many credentials, or names and API keys too long, for one keyring")

// newTable returns a table sized for count credentials.
func newTable(count int) *table {
	return &table{
		seed:      maphash.MakeSeed(),
		slots:     make([]uint64, slotsFor(count)),
		buf:       make([]byte, 0, count*64),
		profileAt: make(map[uint64]uint32),
	}
}

// slotsFor is the index size for n records: a power of two, at most half
// full, so a lookup rarely probes past its first slot.
func slotsFor(n int) int {
	s := 8
	for s < 2*n {
		s *= 2
	}
	return s
}

func (t *table) hash(name string) uint32 {
	return uint32(maphash.String(t.seed, name))
}

func (t *table) field(off, f int) uint32 {
	return binary.LittleEndian.Uint32(t.buf[off+f:])
}

func (t *table) setField(off, f int, v uint32) {
	binary.LittleEndian.PutUint32(t.buf[off+f:], v)
}

// recSize is the size of the record at off, padding included.
func (t *table) recSize(off int) int {
	return alignRec(hdrSize + int(t.field(off, hNameLen)) + int(t.field(off, hKeyLen)))
}

func alignRec(n int) int { return (n + recAlign - 1) &^ (recAlign - 1) }

func slotValue(h uint32, off int) uint64 { return uint64(h)<<32 | uint64(off/recAlign+1) }

func slotOff(s uint64) int { return int(uint32(s)-1) * recAlign }

// find returns the offset of name's record and its slot in the index.
func (t *table) find(name string) (off, slot int, ok bool) {
	h := t.hash(name)
	mask := uint32(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return 0, 0, false
		}
		if uint32(s>>32) == h {
			off := slotOff(s)
			n := t.field(off, hNameLen)
			// Compared, never kept: the conversion does not allocate.
			if string(t.buf[off+hdrSize:off+hdrSize+int(n)]) == name {
				return off, int(i), true
			}
		}
	}
}

// str returns n bytes of buf at off as a string without copying. It stays
// valid and unchanged for as long as it is kept: names and API keys are
// never overwritten, and a buf that is reallocated or compacted leaves the
// old array to the strings that point into it.
func (t *table) str(off, n int) string {
	if n == 0 {
		return ""
	}
	return unsafe.String(&t.buf[off], n)
}

// credential is the public part of the record at off, sharing the table's
// memory: for Use, which lends it for one call. name is the name it was
// found by.
func (t *table) credential(off int, name string) Credential {
	p := &t.profiles[t.field(off, hProfile)]
	key := off + hdrSize + int(t.field(off, hNameLen))
	return Credential{Name: name, Scheme: p.scheme, APIKey: t.str(key, int(t.field(off, hKeyLen))), Meta: p.meta}
}

// secret is where the secret of the record at off is, and its length.
func (t *table) secret(off int) (span, uint32) {
	n := t.field(off, hN)
	return span{chunk: t.field(off, hChunk), off: t.field(off, hOff), size: uint32(roundSlot(int(n)))}, n
}

// insert adds a record for c, which the caller has checked is not there,
// with its secret in slot sp (n bytes).
func (t *table) insert(c Credential, sp span, n int) error {
	off, err := t.appendRecord(c, sp, n)
	if err != nil {
		return err
	}
	t.live++
	if 2*t.live > len(t.slots) {
		t.rehash(2 * len(t.slots))
	}
	t.place(slotValue(t.hash(c.Name), off))
	return nil
}

// appendRecord appends a record for c and returns its offset.
func (t *table) appendRecord(c Credential, sp span, n int) (int, error) {
	off := len(t.buf)
	size := alignRec(hdrSize + len(c.Name) + len(c.APIKey))
	if off+size > maxBuf || len(c.Name) > math.MaxUint32 || len(c.APIKey) > math.MaxUint32 {
		return 0, errTooBig
	}
	var hdr [hdrSize]byte
	t.buf = append(t.buf, hdr[:]...)
	t.buf = append(append(t.buf, c.Name...), c.APIKey...)
	t.buf = append(t.buf, hdr[:off+size-len(t.buf)]...)
	t.setField(off, hNameLen, uint32(len(c.Name)))
	t.setField(off, hKeyLen, uint32(len(c.APIKey)))
	t.setSecret(off, sp, n)
	t.setField(off, hProfile, t.intern(c.Scheme, c.Meta))
	return off, nil
}

func (t *table) setSecret(off int, sp span, n int) {
	t.setField(off, hN, uint32(n))
	t.setField(off, hChunk, sp.chunk)
	t.setField(off, hOff, sp.off)
}

// place puts slot value s in the index.
func (t *table) place(s uint64) {
	mask := uint32(len(t.slots) - 1)
	i := uint32(s>>32) & mask
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = s
}

// rehash rebuilds the index with size slots.
func (t *table) rehash(size int) {
	old := t.slots
	t.slots = make([]uint64, size)
	for _, s := range old {
		if s != 0 {
			t.place(s)
		}
	}
}

// replace gives the record at off, found at index slot, c's API key,
// scheme and metadata and the secret in slot sp (n bytes), and returns
// where the record now is. The caller releases the old secret's slot.
func (t *table) replace(off, slot int, c Credential, sp span, n int) (int, error) {
	nl, kl := int(t.field(off, hNameLen)), int(t.field(off, hKeyLen))
	if t.str(off+hdrSize+nl, kl) == c.APIKey {
		old := t.field(off, hProfile)
		t.setField(off, hProfile, t.intern(c.Scheme, c.Meta))
		t.release(old)
		t.setSecret(off, sp, n)
		return off, nil
	}
	// A new API key: a new record, since the old key's bytes may be lent.
	old := t.field(off, hProfile)
	size := t.recSize(off)
	noff, err := t.appendRecord(c, sp, n)
	if err != nil {
		return 0, err
	}
	t.release(old)
	t.slots[slot] = slotValue(uint32(t.slots[slot]>>32), noff)
	t.dead += size
	return t.compactFollowing(noff), nil
}

// remove deletes the record at off, found at index slot. The caller
// releases its secret's slot.
func (t *table) remove(off, slot int) {
	t.release(t.field(off, hProfile))
	t.dead += t.recSize(off)
	t.live--

	// Backward-shift deletion keeps every probe sequence unbroken
	// without tombstones: move later entries of the run into the hole
	// when their home slot is not between the hole and where they are.
	mask := len(t.slots) - 1
	hole := slot
	t.slots[hole] = 0
	for j := (hole + 1) & mask; t.slots[j] != 0; j = (j + 1) & mask {
		home := int(uint32(t.slots[j]>>32)) & mask
		if (j-home)&mask >= (j-hole)&mask {
			t.slots[hole] = t.slots[j]
			t.slots[j] = 0
			hole = j
		}
	}
	t.compactFollowing(0)
}

// compactFollowing rewrites buf without the removed and replaced records
// once they are 64 KiB or more and at least half of it, and returns where
// the record at off went.
// Strings already lent keep the old array.
func (t *table) compactFollowing(off int) int {
	if t.dead < 64<<10 || 2*t.dead < len(t.buf) {
		return off
	}
	moved := off
	buf := make([]byte, 0, len(t.buf)-t.dead)
	for i, s := range t.slots {
		if s == 0 {
			continue
		}
		from := slotOff(s)
		if from == off {
			moved = len(buf)
		}
		t.slots[i] = slotValue(uint32(s>>32), len(buf))
		buf = append(buf, t.buf[from:from+t.recSize(from)]...)
	}
	t.buf, t.dead = buf, 0
	return moved
}

// trim gives back what the table reserved beyond what it holds; for after
// a load, before any string points into buf.
func (t *table) trim() {
	if cap(t.buf)-len(t.buf) > len(t.buf)/8 {
		t.buf = append([]byte(nil), t.buf...)
	}
}

// profileHash hashes a scheme and metadata, independently of map order.
// A nil and an empty Meta differ: each comes back as it was given.
func (t *table) profileHash(scheme string, meta map[string]string) uint64 {
	h := maphash.String(t.seed, scheme)
	if meta == nil {
		return h
	}
	sum := uint64(len(meta)) + 1
	for k, v := range meta {
		sum += maphash.String(t.seed, k)*0x9E3779B97F4A7C15 ^ maphash.String(t.seed, v)
	}
	return h ^ sum*0xBF58476D1CE4E5B9
}

// intern returns the profile for scheme and meta, adding one (with its own
// copy of meta) if there is none, and counts one more use of it.
func (t *table) intern(scheme string, meta map[string]string) uint32 {
	h := t.profileHash(scheme, meta)
	for i := t.profileAt[h]; i != 0; i = t.profiles[i-1].next {
		p := &t.profiles[i-1]
		if p.scheme == scheme && (p.meta == nil) == (meta == nil) && maps.Equal(p.meta, meta) {
			p.refs++
			return i - 1
		}
	}
	p := profile{scheme: scheme, meta: maps.Clone(meta), hash: h, refs: 1, next: t.profileAt[h]}
	var pi uint32
	if l := len(t.freeProfiles); l > 0 {
		pi = t.freeProfiles[l-1]
		t.freeProfiles = t.freeProfiles[:l-1]
		t.profiles[pi] = p
	} else {
		pi = uint32(len(t.profiles))
		t.profiles = append(t.profiles, p)
	}
	t.profileAt[h] = pi + 1
	return pi
}

// release counts one use less of profile pi and frees it after the last.
func (t *table) release(pi uint32) {
	p := &t.profiles[pi]
	if p.refs--; p.refs > 0 {
		return
	}
	// Unlink pi from its hash's chain.
	if head := t.profileAt[p.hash]; head == pi+1 {
		if p.next == 0 {
			delete(t.profileAt, p.hash)
		} else {
			t.profileAt[p.hash] = p.next
		}
	} else {
		for i := head; i != 0; i = t.profiles[i-1].next {
			if q := &t.profiles[i-1]; q.next == pi+1 {
				q.next = p.next
				break
			}
		}
	}
	*p = profile{}
	t.freeProfiles = append(t.freeProfiles, pi)
}
