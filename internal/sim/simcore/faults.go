package simcore

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FaultKind says how a call fails.
type FaultKind string

const (
	FaultRateLimit   FaultKind = "rate_limit"   // 429 with Retry-After
	FaultStatus      FaultKind = "status"       // the given 5xx (or any) status with a provider error body
	FaultInvalidJSON FaultKind = "invalid_json" // 200 with a body that is not JSON
	FaultDelay       FaultKind = "delay"        // wait, then answer normally
	FaultReset       FaultKind = "reset"        // send headers and part of the body, then drop the connection
)

// Fault is one planned failure.
type Fault struct {
	Kind       FaultKind `json:"kind"`
	Status     int       `json:"status,omitempty"`      // for FaultStatus; default 500
	RetryAfter int       `json:"retry_after,omitempty"` // seconds, for FaultRateLimit; default 1
	DelayMS    int       `json:"delay_ms,omitempty"`    // for FaultDelay
	Count      int       `json:"count,omitempty"`       // how many calls it applies to; default 1
}

// Faults holds the planned failures per provider key.
type Faults struct {
	mu    sync.Mutex
	byKey map[string][]Fault
}

// NewFaults returns an empty registry.
func NewFaults() *Faults { return &Faults{byKey: map[string][]Fault{}} }

// Add plans f for the next f.Count calls made with key.
func (fs *Faults) Add(key string, f Fault) {
	if f.Count <= 0 {
		f.Count = 1
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.byKey[key] = append(fs.byKey[key], f)
}

// Clear removes every planned failure for key.
func (fs *Faults) Clear(key string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	delete(fs.byKey, key)
}

// take pops the next fault for key, if any.
func (fs *Faults) take(key string) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	q := fs.byKey[key]
	if len(q) == 0 {
		return Fault{}, false
	}
	f := q[0]
	f.Count--
	if f.Count <= 0 {
		q = q[1:]
	} else {
		q[0] = f
	}
	if len(q) == 0 {
		delete(fs.byKey, key)
	} else {
		fs.byKey[key] = q
	}
	return f, true
}

// FaultHeader is the request header that injects a fault into that one call, for example
// "X-Sim-Fault: kind=rate_limit,retry_after=3" or "X-Sim-Fault: kind=status,status=503"
// (docs/simulators.md §24).
const FaultHeader = "X-Sim-Fault"

// ParseFault parses the X-Sim-Fault header form: comma-separated key=value pairs.
func ParseFault(s string) (Fault, error) {
	var f Fault
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch k {
		case "kind":
			f.Kind = FaultKind(v)
		case "status", "retry_after", "delay_ms", "count":
			n, err := strconv.Atoi(v)
			if err != nil {
				return f, fmt.Errorf("fault %s: %w", k, err)
			}
			switch k {
			case "status":
				f.Status = n
			case "retry_after":
				f.RetryAfter = n
			case "delay_ms":
				f.DelayMS = n
			case "count":
				f.Count = n
			}
		case "":
		default:
			return f, fmt.Errorf("unknown fault field %q", k)
		}
	}
	switch f.Kind {
	case FaultRateLimit, FaultStatus, FaultInvalidJSON, FaultDelay, FaultReset:
		return f, nil
	}
	return f, fmt.Errorf("unknown fault kind %q", f.Kind)
}

// ErrorWriter writes a provider-specific error body.
type ErrorWriter func(w http.ResponseWriter, status int, code, message string)

// Wrap applies planned faults (from the registry or the X-Sim-Fault header) before next.
// keyOf extracts the provider key from the request; errw writes the provider's error body.
func (fs *Faults) Wrap(keyOf func(*http.Request) string, errw ErrorWriter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := Fault{}, false
		if h := r.Header.Get(FaultHeader); h != "" {
			var err error
			if f, err = ParseFault(h); err != nil {
				errw(w, http.StatusBadRequest, "invalid_fault", err.Error())
				return
			}
			ok = true
		} else if key := keyOf(r); key != "" {
			f, ok = fs.take(key)
		}
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		switch f.Kind {
		case FaultRateLimit:
			ra := f.RetryAfter
			if ra <= 0 {
				ra = 1
			}
			w.Header().Set("Retry-After", strconv.Itoa(ra))
			errw(w, http.StatusTooManyRequests, "rate_limit_exceeded", "Too many requests. Please retry later.")
		case FaultStatus:
			st := f.Status
			if st == 0 {
				st = http.StatusInternalServerError
			}
			errw(w, st, "internal_error", "Simulated upstream failure.")
		case FaultInvalidJSON:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"data": {"truncated": `))
		case FaultDelay:
			select {
			case <-time.After(time.Duration(f.DelayMS) * time.Millisecond):
				next.ServeHTTP(w, r)
			case <-r.Context().Done():
			}
		case FaultReset:
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", "1048576")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(make([]byte, 4096))
			if fl, ok := w.(http.Flusher); ok {
				fl.Flush()
			}
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		}
	})
}

// AdminHandler serves POST /_sim/faults ({"key": "...", "kind": ..., ...}) and
// DELETE /_sim/faults?key=... so tests can plan failures without touching request headers.
func (fs *Faults) AdminHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			var req struct {
				Key string `json:"key"`
				Fault
			}
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Key == "" {
				http.Error(w, `{"error":"body must be {\"key\":...,\"kind\":...}"}`, http.StatusBadRequest)
				return
			}
			if _, err := ParseFault("kind=" + string(req.Kind)); err != nil {
				http.Error(w, fmt.Sprintf(`{"error":%q}`, err.Error()), http.StatusBadRequest)
				return
			}
			fs.Add(req.Key, req.Fault)
			w.WriteHeader(http.StatusNoContent)
		case http.MethodDelete:
			fs.Clear(r.URL.Query().Get("key"))
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	})
}
