//go:build unix

package main

import "syscall"

// autoMaxConnections is --max-connections auto: the process's descriptor
// limit less what segment files (--max-open-files) and the listener, data
// directory and logs may need, so that accept never fails for want of
// descriptors. 0 (no limit) when the limit cannot be read.
func autoMaxConnections(maxOpenFiles int) int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<30 {
		return 0
	}
	return max(int(lim.Cur)-maxOpenFiles-100, 1)
}
