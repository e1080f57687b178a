package fsutil

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	for _, content := range []string{"first", "second, longer"} {
		if err := WriteFileAtomic(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v", got, err)
		}
	}
	if _, err := os.Stat(path + TmpSuffix); !os.IsNotExist(err) {
		t.Fatalf("temporary file left: %v", err)
	}
	if err := SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	// A directory that does not exist: an error, and no temporary file.
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "x"), []byte("x")); err == nil {
		t.Fatal("wrote into a missing directory")
	}
	if err := SyncDir(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("synced a missing directory")
	}
}
