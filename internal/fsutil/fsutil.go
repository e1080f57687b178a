// Package fsutil holds the file operations that merlin's on-disk parts
// (seglog, the broker's disk storage, the producer's spill) need to be
// crash-safe: an atomic file replacement and a directory fsync.
package fsutil

import (
	"fmt"
	"os"
	"runtime"
)

// TmpSuffix is appended to a file's name while WriteFileAtomic writes it;
// a file with this suffix left after a crash is garbage and may be removed.
const TmpSuffix = ".tmp"

// SyncDir fsyncs a directory, so that files created, renamed or removed in
// it stay so after a power cut.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for fsync there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// WriteFileAtomic replaces path with data: it writes path+TmpSuffix, fsyncs
// it and renames it over path, so that a crash leaves either the old file
// or the new one, never a mix. The caller fsyncs the directory (SyncDir)
// when the rename itself must survive a power cut.
func WriteFileAtomic(path string, data []byte) error {
	tmp := path + TmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
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
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
