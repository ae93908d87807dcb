package httpapi

import (
	"log/slog"
	"net/http"
	"time"
)

// Timeouts bound how long a client may take over a connection; zero fields take the
// defaults below.
type Timeouts struct {
	// ReadHeader bounds the request line and headers: slow-header clients (slowloris) are
	// cut off. Default 10 s.
	ReadHeader time.Duration
	// Idle closes a keep-alive connection with no request for this long. Default 120 s.
	Idle time.Duration
}

// Default timeouts.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	maxHeaderBytes           = 64 << 10
)

// NewHTTPServer is the HTTP server every listener of aiproxy runs: `aiproxy serve` and the
// demo build theirs with it, and the tests that pin its timeouts do too. Bodies and
// responses have no overall deadline, because uploads and streams are long by nature (the
// gateway bounds upstream silence instead). logger receives the server's own complaints;
// nil discards them.
func NewHTTPServer(h http.Handler, logger *slog.Logger, t Timeouts) *http.Server {
	if t.ReadHeader <= 0 {
		t.ReadHeader = DefaultReadHeaderTimeout
	}
	if t.Idle <= 0 {
		t.Idle = DefaultIdleTimeout
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	if logger != nil {
		srv.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	}
	return srv
}
