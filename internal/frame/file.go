package frame

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// tempInfix follows the file's name in the name of WriteFile's temporary
// files; os.CreateTemp's decimal number follows it.
const tempInfix = ".tmp-"

// WriteFile replaces the file path with data atomically: it writes a
// temporary file in the same directory, syncs it, renames it over path
// and syncs the directory, so that after a crash path holds either its old
// content or data, never a mix. A process killed before the rename leaves
// the temporary file, named path's name, ".tmp-" and a decimal number:
// RemoveTemps removes those.
func WriteFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := createTemp(path)
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return SyncDir(dir)
}

// CanWrite creates and removes a temporary file beside path, named as
// WriteFile names its own: it fails when WriteFile would, for want of the
// directory or its permissions, before any data is at stake.
func CanWrite(path string) error {
	f, err := createTemp(path)
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// createTemp creates WriteFile's temporary file for path. The "*" marks
// where CreateTemp puts its number, so that a "*" in path's name is not
// taken for it.
func createTemp(path string) (*os.File, error) {
	return os.CreateTemp(filepath.Dir(path), filepath.Base(path)+tempInfix+"*")
}

// RemoveTemps removes the temporary files that WriteFile, killed before
// its rename, left beside path: the regular files of path's directory
// named path's name, ".tmp-" and decimal digits, and nothing else. It
// returns the paths it removed, and the errors of those it could not.
// It must not run while a WriteFile to path may be under way (in this
// process or another: the caller holds a lock on path), whose temporary
// file it would remove before its rename.
func RemoveTemps(path string) ([]string, error) {
	dir, prefix := filepath.Dir(path), filepath.Base(path)+tempInfix
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		num, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.Type().IsRegular() || num == "" || strings.Trim(num, "0123456789") != "" {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}

// SyncDir syncs a directory so that renames and new entries in it are
// durable. Windows cannot sync directories; there it does nothing.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	return SyncPath(dir)
}

// SyncPath opens a file or directory, syncs it to disk and closes it.
func SyncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
