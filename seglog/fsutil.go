package seglog

import (
	"fmt"
	"os"
	"runtime"
)

// syncDir fsyncs a directory so that files created, renamed or removed in
// it stay so after a power cut.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for fsync there
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("seglog: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("seglog: fsync directory %s: %w", dir, err)
	}
	return nil
}

// writeFileAtomic writes data to path+".tmp", fsyncs it and renames it to
// path. The caller fsyncs the directory.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("seglog: %w", err)
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
		os.Remove(tmp)
		return fmt.Errorf("seglog: writing %s: %w", path, err)
	}
	return nil
}
