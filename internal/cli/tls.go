package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// KeyPair loads the certificate and private key named by --tls-cert and
// --tls-key, the flags of that name in every merlin command (a broker's
// own pair, or a client's for mutual TLS): nil when neither is given, an
// error naming the flags when only one is or the files do not load.
func KeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	switch {
	case certFile != "" && keyFile != "":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		return &cert, nil
	case certFile != "":
		return nil, errors.New("--tls-cert needs --tls-key")
	case keyFile != "":
		return nil, errors.New("--tls-key needs --tls-cert")
	}
	return nil, nil
}

// CertPool reads the PEM CA certificates of file, given by the flag named
// flag ("--tls-ca"), which errors name. A file without any certificate is
// an error: it is a mistake, not a wish to trust no one.
func CertPool(flag, file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate", flag, file)
	}
	return pool, nil
}
