package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/aiproxy/aiproxy/internal/tenancy"
)

type ctxKey int

// ctxState is the key of the one context value a request carries: its reqState.
const ctxState ctxKey = 0

// reqState is what the middleware and handlers share about one request. One value in the
// context instead of several keeps the hot path to a single context allocation.
type reqState struct {
	id    string
	log   logInfo
	actor tenancy.Actor // the authenticated caller; Key nil before authentication
}

func stateFrom(ctx context.Context) *reqState {
	st, _ := ctx.Value(ctxState).(*reqState)
	return st
}

// RequestIDHeader carries the request id to the client and the upstream.
const RequestIDHeader = "X-Request-Id"

func requestID(ctx context.Context) string {
	if st := stateFrom(ctx); st != nil {
		return st.id
	}
	return ""
}

// newRequestID returns 16 random hex digits.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validRequestID accepts a client's id if it is short and plain, so that it can go into
// logs and upstream headers as it is.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c == '-' || c == '_' || c == '.' || c == ':' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// logInfo collects what the request log line reports; handlers fill it in.
type logInfo struct {
	org, service, action, keyPrefix string
	known                           bool // service and action name a catalog entry
	status, upstreamStatus          int
	err                             error
}

func logInfoFrom(ctx context.Context) *logInfo {
	if st := stateFrom(ctx); st != nil {
		return &st.log
	}
	return nil
}

// statusWriter records the status and size of what a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withRequestLog assigns the request id and writes one log line per request: id, org,
// service, action, status, upstream status, bytes and duration. Never a secret: keys
// appear only as their prefix, and no header or body is logged.
func (s *Server) withRequestLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		st := &reqState{id: id}
		li := &st.log
		ctx := context.WithValue(r.Context(), ctxState, st)
		w.Header().Set(RequestIDHeader, id)
		sw := &statusWriter{ResponseWriter: w}
		if s.metrics != nil {
			s.metrics.Begin()
		}
		defer func() {
			rec := recover()
			status := sw.status
			if li.status != 0 {
				status = li.status
			}
			if rec != nil && rec != http.ErrAbortHandler {
				s.logger.ErrorContext(ctx, "panic", slog.String("request_id", id), slog.Any("panic", rec))
				if sw.status == 0 {
					status = s.writeError(sw, r, errors.New("panic"))
				}
			}
			attrs := make([]slog.Attr, 0, 12)
			attrs = append(attrs,
				slog.String("request_id", id),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Int64("bytes", sw.bytes),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			)
			if li.org != "" {
				attrs = append(attrs, slog.String("org", li.org))
			}
			if li.service != "" {
				attrs = append(attrs, slog.String("service", li.service), slog.String("action", li.action))
			}
			if li.upstreamStatus != 0 {
				attrs = append(attrs, slog.Int("upstream_status", li.upstreamStatus))
			}
			if li.keyPrefix != "" {
				attrs = append(attrs, slog.String("key", li.keyPrefix))
			}
			if li.err != nil && status >= 500 {
				attrs = append(attrs, slog.String("error", li.err.Error()))
			}
			s.logger.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
			if s.metrics != nil {
				svc, act := "", ""
				if li.known { // only catalog names: a URL must not mint label values
					svc, act = li.service, li.action
				}
				s.metrics.Observe(svc, act, status, li.upstreamStatus, time.Since(start), sw.bytes)
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
		}()
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}
