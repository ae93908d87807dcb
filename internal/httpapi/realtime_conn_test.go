package httpapi_test

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/httpapi"
)

// TestRealtimeFrameSentWithTheUpgradeRequestIsRelayed: a client that sends its first
// message in the same packet as its upgrade request, before the 101 (the gateway has
// read it with the request), still has it relayed, first and whole; and a message larger
// than the session's buffers passes both ways intact.
func TestRealtimeFrameSentWithTheUpgradeRequestIsRelayed(t *testing.T) {
	e, p := realtimeEnv(t, httpapi.RealtimeLimits{})
	c, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + ttsWS + "?voice_id=v1 HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Api-Key " + e.memberA + "\r\n\r\n"
	first := `{"text":"sent with the upgrade"}`
	big := `{"text":"` + strings.Repeat("x", 9000) + `"}`
	if _, err := c.Write(append([]byte(req), append(clientFrame(first), clientFrame(big)...)...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %d", resp.StatusCode)
	}
	for _, want := range []string{first, big} {
		if got := serverFrame(t, br); got != want {
			t.Errorf("echo: %d bytes %.40q…, want %d bytes %.40q…", len(got), got, len(want), want)
		}
	}
	if msgs := p.messages(); len(msgs) < 2 || msgs[0] != first || msgs[1] != big {
		t.Errorf("the provider got %d messages, the first %.40q", len(msgs), msgs)
	}
}

// clientFrame is one masked text frame, as a client sends it.
func clientFrame(s string) []byte {
	b := []byte{0x81}
	switch n := len(s); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	mask := [4]byte{1, 2, 3, 4}
	b = append(b, mask[:]...)
	for i := 0; i < len(s); i++ {
		b = append(b, s[i]^mask[i%4])
	}
	return b
}

// serverFrame reads one unmasked text frame.
func serverFrame(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		t.Fatal(err)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var x [2]byte
		io.ReadFull(r, x[:])
		n = uint64(binary.BigEndian.Uint16(x[:]))
	case 127:
		var x [8]byte
		io.ReadFull(r, x[:])
		n = binary.BigEndian.Uint64(x[:])
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	return string(b)
}
