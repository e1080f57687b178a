//go:build !unix

package main

// autoMaxConnections is --max-connections auto: where the descriptor limit
// cannot be read, no limit.
func autoMaxConnections(int) int { return 0 }
