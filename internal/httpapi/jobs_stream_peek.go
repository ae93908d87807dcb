//go:build linux || darwin

package httpapi

import (
	"errors"
	"net"
	"syscall"
)

// gone reports whether the client of a taken-over stream has closed or reset its
// connection, without blocking and without a goroutine: a non-blocking peek at the socket
// (EOF or an error: gone; nothing to read: still there). Bytes a client sends are left
// unread.
func gone(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	var closed bool
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == nil && n == 0:
			closed = true // orderly shutdown by the client
		case rerr != nil && !errors.Is(rerr, syscall.EAGAIN) && !errors.Is(rerr, syscall.EWOULDBLOCK) && !errors.Is(rerr, syscall.EINTR):
			closed = true // reset, or the socket is dead
		}
		return true // never wait for readability
	})
	return closed || err != nil
}
