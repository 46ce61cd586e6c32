package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// faultHook, when set (by tests only), is called before each stage of an
// atomic write; an error it returns fails the write at that stage.
type faultHook func(stage string) error

func (h faultHook) at(stage string) error {
	if h == nil {
		return nil
	}
	return h(stage)
}

// writeAtomic replaces path with data, or with noReplace creates it only if
// nothing is there. The data goes to a new 0600 temporary file in the same
// directory, is synced, then takes the path's place in one rename (or link,
// which fails rather than replace); the directory is synced last. On any
// error the temporary file is removed and path is left as it was.
func writeAtomic(path string, data []byte, noReplace bool, hook faultHook) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if err := hook.at("create"); err != nil {
		return err
	}
	// CreateTemp uses O_EXCL and mode 0600.
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			tmp.Close()
		}
		if err != nil {
			os.Remove(tmpName)
		}
	}()
	if err := hook.at("write"); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write temporary file: %w", err)
	}
	if err := hook.at("sync"); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync temporary file: %w", err)
	}
	err = tmp.Close()
	tmp = nil
	if err != nil {
		return fmt.Errorf("close temporary file: %w", err)
	}
	if err := hook.at("rename"); err != nil {
		return err
	}
	if noReplace {
		// link(2) fails with EEXIST instead of replacing, so two racing
		// creates cannot clobber each other.
		if err := os.Link(tmpName, path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return ErrExists
			}
			return fmt.Errorf("link into place: %w", err)
		}
		os.Remove(tmpName)
	} else if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("rename into place: %w", err)
	}
	// The file is in place; a failed directory sync does not undo that, but
	// the caller must hear that durability is not assured.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("sync directory (the new file is in place but may not survive a crash): %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
