package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/merlinkafka/merlin/internal/testcert"
)

func TestKeyPairAndCertPool(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := testcert.NewCA(t, "CA").Files(t, dir, "c")
	if cert, err := KeyPair("", ""); cert != nil || err != nil {
		t.Fatalf("no flags: %v, %v", cert, err)
	}
	if cert, err := KeyPair(certFile, keyFile); cert == nil || err != nil {
		t.Fatalf("both flags: %v, %v", cert, err)
	}
	if pool, err := CertPool("--tls-ca", caFile); pool == nil || err != nil {
		t.Fatalf("CA file: %v, %v", pool, err)
	}
	for _, c := range []struct {
		name    string
		err     func() error
		wantErr string
	}{
		{"cert alone", func() error { _, err := KeyPair(certFile, ""); return err }, "--tls-cert needs --tls-key"},
		{"key alone", func() error { _, err := KeyPair("", keyFile); return err }, "--tls-key needs --tls-cert"},
		{"key as cert", func() error { _, err := KeyPair(keyFile, keyFile); return err }, "--tls-cert/--tls-key: "},
		{"no PEM", func() error { _, err := CertPool("--tls-x", keyFile); return err }, "--tls-x: " + keyFile + " holds no PEM certificate"},
		{"no file", func() error { _, err := CertPool("--tls-x", filepath.Join(dir, "nope")); return err }, "--tls-x: "},
	} {
		if err := c.err(); err == nil || !strings.HasPrefix(err.Error(), c.wantErr) {
			t.Errorf("%s: %v, want %q", c.name, err, c.wantErr)
		}
	}
}
