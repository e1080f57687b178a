//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package broker

import (
	"errors"
	"os"
)

var errLockUnsupported = errors.New("file locks are not supported")

func lockFile(*os.File) (bool, error) { return false, errLockUnsupported }

func unlockFile(*os.File) error { return nil }
