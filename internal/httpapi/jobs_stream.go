package httpapi

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
)

// Event streams that cost almost nothing while they wait (docs/jobs.md "Events"). An HTTP/1.1
// stream is taken over from the HTTP server (Hijack) once its first event is written: the
// handler returns, and the job's poller writes every later event, keep-alive and the final
// done to the connection itself. A waiting stream is then a socket and a few dozen bytes — no
// goroutine, no buffers — so ten thousand of them on one replica fit in a few megabytes.
// A client that leaves is noticed at the poller's next tick (at most a second), by a
// non-blocking peek at its socket (jobs_stream_peek.go; elsewhere at the next write, a
// keep-alive coming every 15 s). HTTP/2
// streams cannot be taken over; they keep a goroutine each (jobs_events.go).

// MaxStreamsPerKey bounds the event streams one key holds open on one replica (they do not
// count against the key's requests in progress once taken over).
const MaxStreamsPerKey = 20000

// streamWriteTimeout bounds one write to a stream: a client whose socket does not take a
// few hundred bytes in that time is gone, or reading too slowly to be waited for.
const streamWriteTimeout = 2 * time.Second

// eventStream is a taken-over event stream.
type eventStream struct {
	conn  net.Conn
	last  string    // the event id of the last view written
	until time.Time // the end of the stream's lifetime
	keyID int64
	leave func() // its membership of the poller
}

// takeOver hijacks the response's connection and writes the stream's head and first event
// (the job's view, unless the client's Last-Event-ID is it); nil when the connection cannot
// be taken over (HTTP/2, a test recorder), nothing written then.
func (s *Server) takeOver(w http.ResponseWriter, r *http.Request, first *jobSnapshot, last string, keyID int64, lifetime time.Duration) (*eventStream, error) {
	if r.ProtoMajor != 1 {
		return nil, nil
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil
	}
	_ = brw // what the client may have pipelined after the request is not read: the stream ends with the connection
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\nConnection: close\r\n")
	h := w.Header()
	names := make([]string, 0, len(h))
	for name := range h {
		switch http.CanonicalHeaderKey(name) {
		case "Content-Type", "Cache-Control", "X-Accel-Buffering", "Connection", "Content-Length", "Transfer-Encoding":
		default:
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		for _, v := range h[name] {
			fmt.Fprintf(&b, "%s: %s\r\n", name, v)
		}
	}
	b.WriteString("Date: " + time.Now().UTC().Format(http.TimeFormat) + "\r\n\r\n")
	st := &eventStream{conn: conn, last: last, until: time.Now().Add(lifetime), keyID: keyID}
	st.appendEvents(&b, first)
	if err := st.send(b.Bytes()); err != nil {
		conn.Close()
		return nil, err
	}
	if li := logInfoFrom(r.Context()); li != nil {
		li.status = http.StatusOK
	}
	return st, nil
}

// appendEvents appends the status event of snap if the stream has not seen its view, and
// done when the job is terminal. It reports whether the stream is done.
func (st *eventStream) appendEvents(b *bytes.Buffer, snap *jobSnapshot) bool {
	if snap == nil {
		return false
	}
	if snap.eid != st.last {
		fmt.Fprintf(b, "id: %s\nevent: status\ndata: %s\n\n", snap.eid, snap.view)
		st.last = snap.eid
	}
	if catalog.Terminal(snap.job.Status) {
		fmt.Fprintf(b, "id: %s\nevent: done\ndata: %s\n\n", snap.eid, snap.view)
		return true
	}
	return false
}

func (st *eventStream) send(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	_ = st.conn.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	_, err := st.conn.Write(p)
	return err
}

// addStream hands st to jp; false when jp has stopped meanwhile (the caller joins anew).
func (h *jobHub) addStream(jp *jobPoller, st *eventStream) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if jp.stopped {
		return false
	}
	jp.smu.Lock()
	jp.streams = append(jp.streams, st)
	jp.smu.Unlock()
	return true
}

// serveStreams writes the poller's last read to its streams: the view to those that have
// not seen it, done (and the end) when the job is terminal, a keep-alive every heartbeat;
// it ends streams past their lifetime and those that cannot be written to.
func (h *jobHub) serveStreams(jp *jobPoller) {
	heartbeat, _ := h.eventsTimers()
	jp.smu.Lock()
	if len(jp.streams) == 0 {
		jp.smu.Unlock()
		return
	}
	now := time.Now()
	beat := now.Sub(jp.beat) >= heartbeat
	if beat {
		jp.beat = now
	}
	snap := jp.snap
	var b bytes.Buffer
	var leaving []*eventStream
	kept := jp.streams[:0]
	for _, st := range jp.streams {
		b.Reset()
		done := st.appendEvents(&b, snap)
		if b.Len() == 0 && beat {
			b.WriteString(": keep-alive\n\n")
		}
		if gone(st.conn) {
			leaving = append(leaving, st)
			continue
		}
		if err := st.send(b.Bytes()); err != nil || done || now.After(st.until) {
			leaving = append(leaving, st)
			continue
		}
		kept = append(kept, st)
	}
	clear(jp.streams[len(kept):])
	jp.streams = kept
	jp.smu.Unlock()
	for _, st := range leaving {
		h.endStream(st)
	}
}

// endStream closes st and gives back what it held.
func (h *jobHub) endStream(st *eventStream) {
	st.conn.Close()
	h.mu.Lock()
	if h.streamsByKey[st.keyID]--; h.streamsByKey[st.keyID] <= 0 {
		delete(h.streamsByKey, st.keyID)
	}
	h.mu.Unlock()
	st.leave()
}

// reserveStream counts one more stream of the key, unless it holds MaxStreamsPerKey.
func (h *jobHub) reserveStream(keyID int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.streamsByKey == nil {
		h.streamsByKey = map[int64]int{}
	}
	most := MaxStreamsPerKey
	if h.maxStreams > 0 {
		most = h.maxStreams
	}
	if h.streamsByKey[keyID] >= most {
		return aiproxy.Errorf(aiproxy.ETHROTTLED, "This key has %d event streams open, the most allowed; close some first.", most)
	}
	h.streamsByKey[keyID]++
	return nil
}

// releaseStream gives back a reservation that did not become a stream.
func (h *jobHub) releaseStream(keyID int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.streamsByKey[keyID]--; h.streamsByKey[keyID] <= 0 {
		delete(h.streamsByKey, keyID)
	}
}

// closeStreams ends every taken-over stream (the server is closing).
func (h *jobHub) closeStreams() {
	h.mu.Lock()
	pollers := make([]*jobPoller, 0, len(h.pollers))
	for _, jp := range h.pollers {
		pollers = append(pollers, jp)
	}
	h.mu.Unlock()
	for _, jp := range pollers {
		jp.smu.Lock()
		streams := jp.streams
		jp.streams = nil
		jp.smu.Unlock()
		for _, st := range streams {
			h.endStream(st)
		}
	}
}

// Streams is the number of taken-over event streams open (tests).
func (h *jobHub) openStreams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.streamsByKey {
		n += c
	}
	return n
}
