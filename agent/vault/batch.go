package vault

import (
	"fmt"
	"slices"
	"strings"
)

// AddBatch seals every secret as a new record and rewrites the file once:
// recs[i] is sealed with secrets[i]. Each record is checked as Add checks
// it, and defaulted as Add defaults it (Created and Rotated to now, Version
// to 1). It is all or nothing: a name already in the vault, a name given
// twice in the batch (both ErrRecordExists), an invalid record or a failed
// write leaves the file and the vault as they were. Adding n records with
// Add rewrites the file n times; AddBatch writes it once, which is what
// makes a vault of 100,000 credentials practical to build.
func (v *Vault) AddBatch(recs []Record, secrets [][]byte) error {
	fail := func(err error) error { return fmt.Errorf("vault: add batch of %d: %w", len(recs), err) }
	if len(recs) != len(secrets) {
		return fail(fmt.Errorf("%d records but %d secrets", len(recs), len(secrets)))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.dataKey.IsAlive() {
		return fail(ErrClosed)
	}
	if len(recs) == 0 {
		return nil
	}
	if len(v.records)+len(recs) > maxRecords {
		return fail(fmt.Errorf("the vault would hold %d records, the limit is %d", len(v.records)+len(recs), maxRecords))
	}
	// Names first, before any sealing: a duplicate is the likely mistake
	// and costs nothing to find.
	names := make([]string, len(recs))
	for i, r := range recs {
		names[i] = r.Name
	}
	slices.Sort(names)
	for i, name := range names {
		if i > 0 && names[i-1] == name {
			return fail(fmt.Errorf("credential %s: %w: it is named twice in the batch", safeName(name), ErrRecordExists))
		}
		if _, found := v.find(name); found {
			return fail(fmt.Errorf("credential %s: %w: remove it first or choose another name", safeName(name), ErrRecordExists))
		}
	}
	t := now()
	sealed := make([]entry, 0, len(v.records)+len(recs))
	sealed = append(sealed, v.records...)
	for i, rec := range recs {
		rec = newRecord(rec, t)
		sr, err := v.sealLocked(rec, secrets[i])
		if err != nil {
			return fail(fmt.Errorf("record %d (%s): %w", i, safeName(rec.Name), err))
		}
		sealed = append(sealed, sr)
	}
	slices.SortFunc(sealed, func(a, b entry) int { return strings.Compare(a.rec.Name, b.rec.Name) })
	return v.commitLocked(sealed, nil, fail)
}
