package httpapi

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aiproxy/aiproxy"
)

// DefaultBodyIdleTimeout is how long a request body may go without a byte arriving.
const DefaultBodyIdleTimeout = 30 * time.Second

// idleBody is a request body with an idle deadline between reads: before each read the
// connection's read deadline is pushed to now + idle, so a body that stalls for longer
// fails the read (and the server closes the connection), while a long upload that keeps
// moving is never cut. The deadline is moved at most every idle/8, not on every read.
type idleBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	idle     time.Duration
	deadline time.Time // the deadline last set
	read     bool      // any byte, or EOF, was read
	eof      bool
}

func (b *idleBody) Read(p []byte) (int, error) {
	if now := time.Now(); b.deadline.Sub(now) < b.idle-b.idle/8 {
		b.deadline = now.Add(b.idle)
		_ = b.rc.SetReadDeadline(b.deadline) // unsupported (tests' recorders): no deadline
	}
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.read = true
	}
	if err == io.EOF {
		b.eof = true
	}
	if err != nil && isTimeout(err) {
		return n, errBodyStalled(b.idle)
	}
	return n, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

func errBodyStalled(idle time.Duration) error {
	n, unit := max(1, int(idle.Round(time.Second)/time.Second)), "seconds"
	if n == 1 {
		unit = "second"
	}
	return aiproxy.Errorf(aiproxy.ETIMEOUT, "The request body stalled: no byte arrived for %d %s.", n, unit)
}

// unread reports whether the request has a body that nobody has read to its end: answering
// such a request must close the connection, or the server would read the rest first.
func unread(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return false
	}
	if b, ok := r.Body.(*idleBody); ok {
		return !b.eof
	}
	return true
}
