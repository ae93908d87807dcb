package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

// rawUpstream is a TCP server that reads one request's head per connection and then runs
// answer on the connection: hand-written responses, including what net/http's server
// would never send.
func rawUpstream(t *testing.T, answer func(c net.Conn, stop <-chan struct{})) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(stop)
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				go func() { <-stop; c.Close() }()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						break
					}
				}
				answer(c, stop)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// sleepOr waits for d or stop; false on stop.
func sleepOr(d time.Duration, stop <-chan struct{}) bool {
	select {
	case <-time.After(d):
		return true
	case <-stop:
		return false
	}
}

// Informational answers count against the timeout: an upstream that keeps sending 103
// Early Hints, or sends 100 Continue and then nothing, is silent as far as the timeout is
// concerned (504); one that answers an ordinary request with 101 Switching Protocols has
// failed (502, upstream_status 101; the switched connection is never read). No call
// outlives its endpoint's timeout by more than one second.
func TestInformationalAnswersCountAgainstTheTimeout(t *testing.T) {
	const early = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
	cases := []struct {
		name   string
		answer func(c net.Conn, stop <-chan struct{})
		codes  []string // any of
	}{
		{"103 every 100 ms", func(c net.Conn, stop <-chan struct{}) {
			for sleepOr(100*time.Millisecond, stop) {
				if _, err := io.WriteString(c, early); err != nil {
					return
				}
			}
		}, []string{aiproxy.EUPSTREAMTIMEOUT}},
		{"103 as fast as it can", func(c net.Conn, stop <-chan struct{}) {
			flood := strings.Repeat(early, 64)
			for {
				if _, err := io.WriteString(c, flood); err != nil {
					return
				}
			}
		}, []string{aiproxy.EUPSTREAMTIMEOUT, aiproxy.EUPSTREAM}},
		{"100 then nothing", func(c net.Conn, stop <-chan struct{}) {
			io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
			<-stop
		}, []string{aiproxy.EUPSTREAMTIMEOUT}},
		{"100, 102, 103 then nothing", func(c net.Conn, stop <-chan struct{}) {
			io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"+early)
			<-stop
		}, []string{aiproxy.EUPSTREAMTIMEOUT}},
		{"101 then nothing", func(c net.Conn, stop <-chan struct{}) {
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			<-stop
		}, []string{aiproxy.EUPSTREAM}},
		{"101 then bytes forever", func(c net.Conn, stop <-chan struct{}) {
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n")
			for sleepOr(50*time.Millisecond, stop) {
				if _, err := io.WriteString(c, "tick "+hexKey+"\n"); err != nil {
					return
				}
			}
		}, []string{aiproxy.EUPSTREAM}},
		{"103 then 101", func(c net.Conn, stop <-chan struct{}) {
			io.WriteString(c, early)
			sleepOr(300*time.Millisecond, stop)
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			<-stop
		}, []string{aiproxy.EUPSTREAM}},
	}
	const timeout = time.Second
	svc := modesCatalogTimeout(t, timeout)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(tc.name, "fast") {
				t.Parallel() // the flood runs alone: it takes a processor while it lasts
			}
			g := modesGateway(t, rawUpstream(t, tc.answer), Config{})
			for _, mode := range []string{"json", "passthrough", "stream"} {
				iv := invokeMode(t, g, svc, mode, hexKey)
				if iv.took > timeout+time.Second {
					t.Errorf("%s: the call took %v, timeout %v", mode, iv.took, timeout)
				}
				got := modesErrCode(iv.err)
				ok := false
				for _, c := range tc.codes {
					ok = ok || got == c
				}
				if !ok {
					t.Errorf("%s: error %v (%s), want one of %v", mode, iv.err, got, tc.codes)
				}
				if iv.res.Status != 0 || iv.rec.Body.Len() != 0 {
					t.Errorf("%s: the client got status %d and %d bytes", mode, iv.res.Status, iv.rec.Body.Len())
				}
				if got == aiproxy.EUPSTREAM && strings.Contains(tc.name, "101") {
					if status, body := upstreamFields(t, iv.err); status != http.StatusSwitchingProtocols || body != "" {
						t.Errorf("%s: upstream_status %v, upstream_body %q", mode, status, body)
					}
				}
			}
		})
	}
}
