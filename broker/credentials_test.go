package broker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// ParseUsers reads name:password lines; MemoryCredentials checks PLAIN
// passwords and keeps SCRAM credentials salted per user and mechanism;
// FileCredentials reloads, keeping its users when the file is broken.
func TestCredentials(t *testing.T) {
	ctx := context.Background()
	users, err := ParseUsers([]byte("# comment\nalice:pa:ss word\n\nbob:b\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if users["alice"] != "pa:ss word" || users["bob"] != "b" || len(users) != 2 {
		t.Fatalf("ParseUsers: %q", users)
	}
	for _, bad := range []string{"alice", ":x", "alice:", "a:1\na:2"} {
		if _, err := ParseUsers([]byte(bad)); err == nil {
			t.Errorf("ParseUsers(%q) accepted", bad)
		}
	}
	m, err := NewMemoryCredentials(users)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.VerifyPlain(ctx, "alice", "pa:ss word"); err != nil {
		t.Errorf("right password: %v", err)
	}
	if err := m.VerifyPlain(ctx, "alice", "pa:ss"); !errors.Is(err, ErrBadPassword) {
		t.Errorf("wrong password: %v", err)
	}
	if err := m.VerifyPlain(ctx, "carol", "x"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("unknown user: %v", err)
	}
	a256, _ := m.SCRAM(ctx, SASLScramSHA256, "alice")
	a512, _ := m.SCRAM(ctx, SASLScramSHA512, "alice")
	b512, _ := m.SCRAM(ctx, SASLScramSHA512, "bob")
	if a256.Iterations < 4096 || len(a256.Salt) < 16 || slices.Equal(a256.Salt, a512.Salt) || slices.Equal(a512.Salt, b512.Salt) {
		t.Errorf("salts not per user and mechanism, or too few iterations: %+v %+v", a256, a512)
	}
	if _, err := m.SCRAM(ctx, SASLScramSHA512, "carol"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("SCRAM of an unknown user: %v", err)
	}

	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte("alice:one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := OpenCredentialsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.VerifyPlain(ctx, "alice", "one"); err != nil {
		t.Errorf("file: %v", err)
	}
	if err := os.WriteFile(path, []byte("alice:two\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := f.VerifyPlain(ctx, "alice", "two"); err != nil {
		t.Errorf("after Reload: %v", err)
	}
	if err := os.WriteFile(path, []byte("broken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.Reload(); err == nil || f.VerifyPlain(ctx, "alice", "two") != nil {
		t.Errorf("a broken file replaced the users: %v", err)
	}
}
