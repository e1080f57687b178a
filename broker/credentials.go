package broker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/xdg-go/scram"
)

// SASL mechanisms the broker can enable (Config.SASLMechanisms).
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// DefaultSCRAMIterations is the PBKDF2 iteration count of the SCRAM
// credentials NewMemoryCredentials derives: 4096, Kafka's minimum and
// RFC 7677's recommendation.
const DefaultSCRAMIterations = 4096

// ErrUnknownUser is returned (wrapped) by a CredentialStore for a user it
// does not know.
var ErrUnknownUser = errors.New("broker: unknown user")

// ErrBadPassword is returned (wrapped) by CredentialStore.VerifyPlain for a
// known user and a wrong password.
var ErrBadPassword = errors.New("broker: wrong password")

// SCRAMCredentials are what a server stores to check a user's SCRAM
// authentication (RFC 5802): never the password itself.
type SCRAMCredentials struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte // H(HMAC(SaltedPassword, "Client Key"))
	ServerKey  []byte // HMAC(SaltedPassword, "Server Key")
}

// CredentialStore checks the credentials of SASL clients. Implementations
// must be safe for concurrent use; the broker calls them from connection
// goroutines, with a context done when the connection closes.
type CredentialStore interface {
	// SCRAM returns user's credentials for mechanism (SASLScramSHA256 or
	// SASLScramSHA512), or an error wrapping ErrUnknownUser.
	SCRAM(ctx context.Context, mechanism, user string) (SCRAMCredentials, error)
	// VerifyPlain checks a PLAIN user and password: nil when they match,
	// an error wrapping ErrUnknownUser or ErrBadPassword otherwise.
	VerifyPlain(ctx context.Context, user, password string) error
}

// MemoryCredentials is a CredentialStore held in memory. It keeps, per
// user, SCRAM-SHA-256 and SCRAM-SHA-512 credentials derived with a random
// salt per user and mechanism: no password. PLAIN passwords are checked by
// deriving the SCRAM-SHA-512 stored key from them with the user's salt and
// comparing it in constant time.
type MemoryCredentials struct {
	users map[string]userCredentials
}

type userCredentials struct {
	sha256, sha512 SCRAMCredentials
}

// NewMemoryCredentials derives the credentials of users (name to
// password) with DefaultSCRAMIterations. The map is not kept.
func NewMemoryCredentials(users map[string]string) (*MemoryCredentials, error) {
	return newMemoryCredentials(users, DefaultSCRAMIterations)
}

func newMemoryCredentials(users map[string]string, iterations int) (*MemoryCredentials, error) {
	m := &MemoryCredentials{users: make(map[string]userCredentials, len(users))}
	for name, password := range users {
		if name == "" {
			return nil, errors.New("broker: credentials: empty user name")
		}
		var u userCredentials
		var err error
		if u.sha256, err = deriveSCRAM(scram.SHA256, name, password, nil, iterations); err != nil {
			return nil, fmt.Errorf("broker: credentials of %q: %w", name, err)
		}
		if u.sha512, err = deriveSCRAM(scram.SHA512, name, password, nil, iterations); err != nil {
			return nil, fmt.Errorf("broker: credentials of %q: %w", name, err)
		}
		m.users[name] = u
	}
	return m, nil
}

// deriveSCRAM computes the stored credentials of password, with salt (a
// new random one when nil). The password is used as given, not SASLprep'd,
// as Kafka's own ScramFormatter and its clients do.
func deriveSCRAM(h scram.HashGeneratorFcn, user, password string, salt []byte, iterations int) (SCRAMCredentials, error) {
	if salt == nil {
		salt = make([]byte, 32)
		if _, err := rand.Read(salt); err != nil {
			return SCRAMCredentials{}, err
		}
	}
	cl, err := h.NewClientUnprepped(user, password, "")
	if err != nil {
		return SCRAMCredentials{}, err
	}
	sc, err := cl.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(salt), Iters: iterations})
	if err != nil {
		return SCRAMCredentials{}, err
	}
	return SCRAMCredentials{Salt: salt, Iterations: iterations, StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}, nil
}

// Users returns how many users the store knows.
func (m *MemoryCredentials) Users() int { return len(m.users) }

// SCRAM implements CredentialStore.
func (m *MemoryCredentials) SCRAM(_ context.Context, mechanism, user string) (SCRAMCredentials, error) {
	u, ok := m.users[user]
	if !ok {
		return SCRAMCredentials{}, fmt.Errorf("%w %q", ErrUnknownUser, user)
	}
	switch mechanism {
	case SASLScramSHA256:
		return u.sha256, nil
	case SASLScramSHA512:
		return u.sha512, nil
	}
	return SCRAMCredentials{}, fmt.Errorf("broker: credentials: %q is not a SCRAM mechanism", mechanism)
}

// VerifyPlain implements CredentialStore. It costs one PBKDF2 derivation
// (DefaultSCRAMIterations rounds of HMAC-SHA-512), whether or not the user
// exists, so that the time taken does not tell which users do.
func (m *MemoryCredentials) VerifyPlain(_ context.Context, user, password string) error {
	u, ok := m.users[user]
	want := u.sha512
	if !ok {
		want = unknownUserCredentials
	}
	got, err := deriveSCRAM(scram.SHA512, user, password, want.Salt, want.Iterations)
	if err != nil {
		return err
	}
	if !hmac.Equal(got.StoredKey, want.StoredKey) || !ok {
		if !ok {
			return fmt.Errorf("%w %q", ErrUnknownUser, user)
		}
		return fmt.Errorf("%w for %q", ErrBadPassword, user)
	}
	return nil
}

// unknownUserCredentials are checked against when a PLAIN user is unknown,
// so that unknown and known users take the same time.
var unknownUserCredentials = SCRAMCredentials{
	Salt:       make([]byte, 32),
	Iterations: DefaultSCRAMIterations,
	StoredKey:  make([]byte, 64),
}

// ParseUsers reads a users file: one "name:password" a line; empty lines
// and lines starting with # are skipped. The password is everything after
// the first colon, spaces included.
func ParseUsers(data []byte) (map[string]string, error) {
	users := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, password, ok := strings.Cut(line, ":")
		switch {
		case !ok:
			return nil, fmt.Errorf("line %d: not name:password", n)
		case name == "":
			return nil, fmt.Errorf("line %d: empty user name", n)
		case password == "":
			return nil, fmt.Errorf("line %d: empty password for %q", n, name)
		}
		if _, dup := users[name]; dup {
			return nil, fmt.Errorf("line %d: user %q given twice", n, name)
		}
		users[name] = password
	}
	return users, sc.Err()
}

// FileCredentials is a CredentialStore read from a users file (see
// ParseUsers): the file is read, and its credentials derived, by
// OpenCredentialsFile and by Reload; the passwords are not kept.
type FileCredentials struct {
	path string
	mu   sync.RWMutex
	mem  *MemoryCredentials
}

// OpenCredentialsFile reads the users file at path.
func OpenCredentialsFile(path string) (*FileCredentials, error) {
	f := &FileCredentials{path: path}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Reload reads the file again, replacing the users at once when it is
// valid and keeping the previous ones when it is not. New salts are drawn.
func (f *FileCredentials) Reload() error {
	data, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("broker: users file: %w", err)
	}
	users, err := ParseUsers(data)
	clear(data) // the file's bytes hold the passwords
	if err != nil {
		return fmt.Errorf("broker: users file %s: %w", f.path, err)
	}
	if len(users) == 0 {
		return fmt.Errorf("broker: users file %s: no user", f.path)
	}
	mem, err := NewMemoryCredentials(users)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.mem = mem
	f.mu.Unlock()
	return nil
}

func (f *FileCredentials) current() *MemoryCredentials {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.mem
}

// Users returns how many users the store knows.
func (f *FileCredentials) Users() int { return f.current().Users() }

// SCRAM implements CredentialStore.
func (f *FileCredentials) SCRAM(ctx context.Context, mechanism, user string) (SCRAMCredentials, error) {
	return f.current().SCRAM(ctx, mechanism, user)
}

// VerifyPlain implements CredentialStore.
func (f *FileCredentials) VerifyPlain(ctx context.Context, user, password string) error {
	return f.current().VerifyPlain(ctx, user, password)
}
