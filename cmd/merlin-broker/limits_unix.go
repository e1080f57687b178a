//go:build unix

package main

import "syscall"

// autoMaxConnections is --max-connections auto: the process's descriptor
// limit less what segment files (--max-open-files) and the listener, data
// directory and logs may need, so that accept never fails for want of
// descriptors; at least half the limit, should --max-open-files take most
// of it. 0 (no limit) when the limit cannot be read. (Go raises the soft
// limit to the hard one at start, so the limit is the hard one.)
func autoMaxConnections(maxOpenFiles int) int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<30 {
		return 0
	}
	n := int(lim.Cur)
	return max(n-maxOpenFiles-100, n/2)
}
