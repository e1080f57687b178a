//go:build linux

package seglog

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// maxSendfile bounds one sendfile(2) call, as Go's net package does.
const maxSendfile = 1 << 30

// sendFile copies n bytes of f from pos to w with sendfile(2) when w is a
// TCP connection, with an explicit offset, so that concurrent senders of
// one file never share its position. handled is false when w is not a TCP
// connection or the kernel refused the first call: nothing was written
// then and the caller copies instead.
func sendFile(w io.Writer, f *os.File, pos, n int64) (written int64, handled bool, err error) {
	tc, ok := w.(*net.TCPConn)
	if !ok {
		return 0, false, nil
	}
	dst, err := tc.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	src, err := f.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	var serr error
	cerr := src.Control(func(infd uintptr) {
		off := pos
		werr := dst.Write(func(outfd uintptr) bool {
			for written < n {
				m, err := syscall.Sendfile(int(outfd), int(infd), &off, int(min(n-written, maxSendfile)))
				if m > 0 {
					written += int64(m)
				}
				switch {
				case errors.Is(err, syscall.EAGAIN):
					return false // wait until the socket takes more
				case errors.Is(err, syscall.EINTR):
				case err != nil:
					serr = os.NewSyscallError("sendfile", err)
					return true
				case m == 0:
					serr = io.ErrUnexpectedEOF // the file is shorter than the Slice
					return true
				}
			}
			return true
		})
		if serr == nil {
			serr = werr
		}
	})
	if serr == nil {
		serr = cerr
	}
	if written == 0 && (errors.Is(serr, syscall.EINVAL) || errors.Is(serr, syscall.ENOSYS)) {
		return 0, false, nil
	}
	return written, true, serr
}
