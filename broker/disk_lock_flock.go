//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package broker

import (
	"errors"
	"os"
	"syscall"
)

// errLockUnsupported is returned by lockFile where file locks do not exist.
var errLockUnsupported = errors.New("file locks are not supported")

// lockFile takes an exclusive flock(2) on f without waiting. It returns
// false, nil when another open file (in this process or another) holds it.
// The kernel releases the lock when f is closed, and so when the process
// dies, however it dies.
func lockFile(f *os.File) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		}
		return false, err
	}
}

func unlockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
