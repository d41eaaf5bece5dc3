package frame

import (
	"os"
	"path/filepath"
	"runtime"
)

// WriteFile replaces the file path with data atomically: it writes a
// temporary file in the same directory, syncs it, renames it over path
// and syncs the directory, so that after a crash path holds either its old
// content or data, never a mix.
func WriteFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-")
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
