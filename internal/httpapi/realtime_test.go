package httpapi_test

// The WebSocket relay (docs/realtime.md): a fake provider speaks WebSocket behind the
// recording upstream; clients dial the gateway with coder/websocket.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/aiproxy/aiproxy/internal/httpapi"
)

// fakeProvider is a WebSocket upstream: it echoes every message (same type, same bytes),
// answers "leak" with a JSON message holding the provider key it was given, and
// "close:<code>" by closing with that code and the reason "bye". It records the messages
// it received.
type fakeProvider struct {
	mu       sync.Mutex
	received []string
	wg       sync.WaitGroup
}

func (p *fakeProvider) handler(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p.wg.Add(1)
		defer p.wg.Done()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Errorf("provider accept: %v", err)
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(4 << 20)
		key := r.Header.Get("xi-api-key")
		ctx := context.Background()
		for {
			typ, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			p.mu.Lock()
			p.received = append(p.received, string(data))
			p.mu.Unlock()
			switch s := string(data); {
			case typ == websocket.MessageText && s == "leak":
				_ = c.Write(ctx, websocket.MessageText, []byte(`{"message":"invalid key `+key+`"}`))
			case typ == websocket.MessageText && strings.HasPrefix(s, "close:"):
				var code int
				fmt.Sscanf(s, "close:%d", &code)
				_ = c.Close(websocket.StatusCode(code), "bye")
				return
			default:
				if err := c.Write(ctx, typ, data); err != nil {
					return
				}
			}
		}
	}
}

func (p *fakeProvider) messages() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.received...)
}

// realtimeEnv is an env whose upstream is a fakeProvider.
func realtimeEnv(t *testing.T, limits httpapi.RealtimeLimits) (*env, *fakeProvider) {
	e := newEnv(t, envOptions{realtime: limits})
	p := &fakeProvider{}
	e.up.set(p.handler(t))
	t.Cleanup(p.wg.Wait)
	return e, p
}

const ttsWS = "/api/ai-proxy/orgs/org-a/services/elevenlabs/realtime/tts-websocket/"

// dialWS dials the gateway; the connection is closed at cleanup.
func (e *env) dialWS(t *testing.T, pathQuery, authz string, subprotocols ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if authz != "" {
		h.Set("Authorization", authz)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+pathQuery,
		&websocket.DialOptions{HTTPHeader: h, Subprotocols: subprotocols})
	if c != nil {
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, resp, err
}

func mustDial(t *testing.T, e *env, pathQuery, authz string, subprotocols ...string) *websocket.Conn {
	t.Helper()
	c, resp, err := e.dialWS(t, pathQuery, authz, subprotocols...)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", pathQuery, err, status)
	}
	return c
}

func readMsg(t *testing.T, c *websocket.Conn) (websocket.MessageType, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, data, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return typ, string(data)
}

func writeMsg(t *testing.T, c *websocket.Conn, typ websocket.MessageType, s string) {
	t.Helper()
	if err := c.Write(context.Background(), typ, []byte(s)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// readClose reads until the connection closes and returns its close status and reason.
func readClose(t *testing.T, c *websocket.Conn) (websocket.StatusCode, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Reason
		}
		t.Fatalf("read ended without a close frame: %v", err)
	}
}

func TestRealtimeRelaysBothWaysInOrderAndCarriesTheKey(t *testing.T) {
	e, p := realtimeEnv(t, httpapi.RealtimeLimits{})
	c := mustDial(t, e, ttsWS+"?voice_id=voice-1&model_id=eleven_flash_v2_5", "Api-Key "+e.memberA)

	writeMsg(t, c, websocket.MessageText, `{"text":" ","xi_api_key":"client-secret","authorization":"Bearer client","voice_settings":{"stability":0.5}}`)
	if _, got := readMsg(t, c); strings.Contains(got, "client-secret") || strings.Contains(got, "authorization") || !strings.Contains(got, `"voice_settings"`) {
		t.Errorf("first message as the provider got it: %s", got)
	}
	want := []struct {
		typ websocket.MessageType
		s   string
	}{
		{websocket.MessageText, `{"text":"Hello "}`},
		{websocket.MessageBinary, "\x00\x01\x02binary"},
		{websocket.MessageText, `{"text":"world"}`},
		{websocket.MessageBinary, "\xff\xfe"},
		{websocket.MessageText, "not json"},
	}
	for _, m := range want {
		writeMsg(t, c, m.typ, m.s)
	}
	for i, m := range want {
		typ, got := readMsg(t, c)
		if typ != m.typ || got != m.s {
			t.Errorf("message %d back = %v %q, want %v %q", i, typ, got, m.typ, m.s)
		}
	}

	rec := e.up.last(t)
	if rec.Path != "/v1/text-to-speech/voice-1/stream-input" || rec.RawQuery != "model_id=eleven_flash_v2_5" {
		t.Errorf("upstream handshake %s ?%s", rec.Path, rec.RawQuery)
	}
	if got := rec.Header.Get("xi-api-key"); got != elevenKey {
		t.Errorf("upstream xi-api-key = %q, want the org's key", got)
	}
	if got := rec.Header.Get("Authorization"); got != "" {
		t.Errorf("the client's Authorization reached the provider: %q", got)
	}

	// The key, should the provider echo it, is masked.
	writeMsg(t, c, websocket.MessageText, "leak")
	if _, got := readMsg(t, c); strings.Contains(got, elevenKey) || !strings.Contains(got, "****") || !json.Valid([]byte(got)) {
		t.Errorf("provider message with the key reached the client as %s", got)
	}

	// The provider's close code and reason reach the client.
	writeMsg(t, c, websocket.MessageText, "close:4321")
	if code, reason := readClose(t, c); code != 4321 || reason != "bye" {
		t.Errorf("close = %d %q, want 4321 bye", code, reason)
	}
	first := p.messages()[0]
	if strings.Contains(first, "client-secret") || strings.Contains(first, "Bearer client") {
		t.Errorf("credential fields reached the provider: %s", first)
	}

	// Usage: one call, the characters of the text sent (" " + "Hello " + "world").
	e.expectRealtimeUsage(t, "tts-websocket", 1, 12)
}

// expectRealtimeUsage waits for org A's usage of action to read calls and characters.
func (e *env) expectRealtimeUsage(t *testing.T, action string, calls, characters int64) {
	t.Helper()
	e.expectUnits(t, action, calls, map[string]int64{"characters": characters})
}

func TestRealtimeRefusalsComeBeforeTheUpgrade(t *testing.T) {
	e, _ := realtimeEnv(t, httpapi.RealtimeLimits{})
	for _, tc := range []struct {
		name, path, authz string
		status            int
		has               string
	}{
		{"no key", ttsWS + "?voice_id=v", "", 401, ""},
		{"bad key", ttsWS + "?voice_id=v", "Api-Key aip_nope", 401, "Invalid token."},
		{"another org's key", ttsWS + "?voice_id=v", "Api-Key " + e.adminB, 403, ""},
		{"scoped out", ttsWS + "?voice_id=v", "Api-Key " + e.key(e.orgA, "member", []string{"heygen:*"}), 403, ""},
		{"unknown action", "/api/ai-proxy/orgs/org-a/services/elevenlabs/realtime/nope/", "Api-Key " + e.memberA, 404, ""},
		{"unknown service", "/api/ai-proxy/orgs/org-a/services/nope/realtime/tts-websocket/", "Api-Key " + e.memberA, 404, ""},
		{"an http action", "/api/ai-proxy/orgs/org-a/services/elevenlabs/realtime/tts/?voice_id=v", "Api-Key " + e.memberA, 400, "not a realtime action"},
		{"unknown query parameters", ttsWS + "?voice_id=v&zeta=1&alpha=2", "Api-Key " + e.memberA, 400, "alpha, zeta"},
		{"missing path parameter", ttsWS + "?model_id=m", "Api-Key " + e.memberA, 400, "voice_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, resp, err := e.dialWS(t, tc.path, tc.authz)
			if err == nil || resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("dial: %v, response %+v, want status %d", err, resp, tc.status)
			}
		})
	}
	// The messages, read without the websocket client.
	r := e.do("GET", ttsWS+"?voice_id=v&zeta=1&alpha=2", "Api-Key "+e.memberA, nil, "Upgrade", "websocket", "Connection", "Upgrade")
	assertBody(t, r, 400, `{"error": "Unknown query parameters for action 'tts-websocket': alpha, zeta."}`)
	if n := e.up.count(); n != 0 {
		t.Errorf("%d upstream requests for refused sessions", n)
	}
	// A websocket action is not invoked.
	r = e.invoke("elevenlabs", "tts-websocket", `{"path_params": {"voice_id": "v"}}`)
	if r.Status != 400 || !strings.Contains(string(r.Body), "/realtime/tts-websocket/") {
		t.Errorf("invoke of a websocket action: %d %s", r.Status, r.Body)
	}
	// Discovery says how it is reached.
	d := e.do("GET", "/api/ai-proxy/orgs/org-a/services/elevenlabs/", "Api-Key "+e.memberA, nil)
	if !strings.Contains(string(d.Body), `"slug":"tts-websocket"`) || !strings.Contains(string(d.Body), `"transport":"websocket"`) {
		t.Errorf("discovery does not show the websocket transport")
	}
}

func TestRealtimeBrowserTokens(t *testing.T) {
	e, _ := realtimeEnv(t, httpapi.RealtimeLimits{})
	token := mint(t, e.mgr, e.orgA, e.memberA)

	c := mustDial(t, e, ttsWS+"?voice_id=v", "", "aiproxy", "aiproxy.token."+token)
	if c.Subprotocol() != "aiproxy" {
		t.Errorf("selected subprotocol %q, want aiproxy", c.Subprotocol())
	}
	writeMsg(t, c, websocket.MessageText, "ping")
	if _, got := readMsg(t, c); got != "ping" {
		t.Errorf("echo %q", got)
	}
	c.Close(websocket.StatusNormalClosure, "")

	c = mustDial(t, e, ttsWS+"?voice_id=v", "", "aiproxy.token."+token)
	if c.Subprotocol() != "aiproxy.token."+token {
		t.Errorf("selected subprotocol %q, want the token's, the only one offered", c.Subprotocol())
	}
	c.Close(websocket.StatusNormalClosure, "")

	c = mustDial(t, e, ttsWS+"?voice_id=v&token="+token, "")
	writeMsg(t, c, websocket.MessageText, "ping")
	readMsg(t, c)
	c.Close(websocket.StatusNormalClosure, "")
	if q := e.up.last(t).RawQuery; strings.Contains(q, token) {
		t.Errorf("the token reached the provider: %s", q)
	}

	if _, resp, err := e.dialWS(t, ttsWS+"?voice_id=v", "", "aiproxy", "aiproxy.token.aip_wrong"); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Errorf("a wrong token: %v %+v", err, resp)
	}
	if strings.Contains(e.logs.String(), token) {
		t.Error("the browser token is in the request log")
	}
}

func TestRealtimeMessageTooBig(t *testing.T) {
	e, p := realtimeEnv(t, httpapi.RealtimeLimits{MaxMessageBytes: 1024})
	c := mustDial(t, e, ttsWS+"?voice_id=v", "Api-Key "+e.memberA)
	_ = c.Write(context.Background(), websocket.MessageBinary, make([]byte, 2048))
	if code, _ := readClose(t, c); code != websocket.StatusMessageTooBig {
		t.Errorf("close code %d, want 1009", code)
	}
	if len(p.messages()) != 0 {
		t.Error("the provider got the message over the limit")
	}
}

func TestRealtimeIdleTimeout(t *testing.T) {
	e, _ := realtimeEnv(t, httpapi.RealtimeLimits{IdleTimeout: 150 * time.Millisecond})
	c := mustDial(t, e, ttsWS+"?voice_id=v", "Api-Key "+e.memberA)
	writeMsg(t, c, websocket.MessageText, "ping")
	readMsg(t, c)
	if code, reason := readClose(t, c); code != httpapi.CloseIdleTimeout || reason != "idle timeout" {
		t.Errorf("close %d %q, want 4000 idle timeout", code, reason)
	}
}

func TestRealtimeMaxDuration(t *testing.T) {
	e, _ := realtimeEnv(t, httpapi.RealtimeLimits{MaxDuration: 150 * time.Millisecond})
	c := mustDial(t, e, ttsWS+"?voice_id=v", "Api-Key "+e.memberA)
	if code, _ := readClose(t, c); code != httpapi.CloseMaxDuration {
		t.Errorf("close %d, want 4001", code)
	}
}

func TestRealtimeSessionsPerOrg(t *testing.T) {
	e, _ := realtimeEnv(t, httpapi.RealtimeLimits{MaxSessionsPerOrg: 1})
	c := mustDial(t, e, ttsWS+"?voice_id=v", "Api-Key "+e.memberA)
	writeMsg(t, c, websocket.MessageText, "ping")
	readMsg(t, c) // the session is in progress
	if _, resp, err := e.dialWS(t, ttsWS+"?voice_id=v", "Api-Key "+e.memberA); err == nil || resp == nil || resp.StatusCode != 429 {
		t.Fatalf("second session: %v %+v, want 429", err, resp)
	}
	// Another org is not counted with org A.
	e.cred("elevenlabs", "tenant", e.orgB, "el-org-b-key-0000")
	cb := mustDial(t, e, "/api/ai-proxy/orgs/org-b/services/elevenlabs/realtime/tts-websocket/?voice_id=v", "Api-Key "+e.adminB)
	cb.Close(websocket.StatusNormalClosure, "")
	c.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(3 * time.Second)
	for {
		c2, _, err := e.dialWS(t, ttsWS+"?voice_id=v", "Api-Key "+e.memberA)
		if err == nil {
			c2.Close(websocket.StatusNormalClosure, "")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the org's session was not given back: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRealtimeProviderRefusalIs502AndSecondsAreMetered(t *testing.T) {
	e, _ := realtimeEnv(t, httpapi.RealtimeLimits{})
	c := mustDial(t, e, "/api/ai-proxy/orgs/org-a/services/elevenlabs/realtime/stt-realtime/?model_id=scribe_v2_realtime&audio_format=pcm_16000", "Api-Key "+e.memberA)
	writeMsg(t, c, websocket.MessageText, `{"message_type":"input_audio_chunk","audio_base_64":"AAAA"}`)
	readMsg(t, c)
	c.Close(websocket.StatusNormalClosure, "done")
	if rec := e.up.last(t); rec.Path != "/v1/speech-to-text/realtime" || rec.RawQuery != "audio_format=pcm_16000&model_id=scribe_v2_realtime" {
		t.Errorf("upstream handshake %s ?%s", rec.Path, rec.RawQuery)
	}
	// stt-realtime is metered in seconds of audio: 3 bytes of pcm_16000 begin its first second.
	deadline := time.Now().Add(3 * time.Second)
	for {
		e.mgr.Meter.Flush(context.Background())
		r := e.do("GET", "/api/ai-proxy/orgs/org-a/usage/?group_by=service,action", "Api-Key "+e.adminA, nil)
		if strings.Contains(string(r.Body), `"action":"stt-realtime"`) && strings.Contains(string(r.Body), `"seconds":1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage: %s", r.Body)
		}
		time.Sleep(10 * time.Millisecond)
	}

	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"detail": "invalid api key"}`))
	})
	_, resp, err := e.dialWS(t, ttsWS+"?voice_id=v", "Api-Key "+e.memberA)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("provider refusal: %v %+v, want 502", err, resp)
	}
}
