package httpapi_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/aiproxy/aiproxy/internal/httpapi"
)

// A provider that requires a subprotocol gets the client's, never the gateway's own, and the
// client is accepted with the one the provider selected (docs/realtime.md, "Subprotocols").
func TestRealtimeProviderSubprotocols(t *testing.T) {
	e, _ := realtimeEnv(t, httpapi.RealtimeLimits{})
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"convai"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		if c.Subprotocol() != "convai" {
			c.Close(4400, "subprotocol convai required")
			return
		}
		for {
			typ, data, err := c.Read(r.Context())
			if err != nil {
				return
			}
			_ = c.Write(r.Context(), typ, data)
		}
	})
	token := mint(t, e.mgr, e.orgA, e.memberA)
	const agent = "/api/ai-proxy/orgs/org-a/services/elevenlabs/realtime/agent-conversation/?agent_id=a1"

	offeredUpstream := func() []string {
		var out []string
		for _, v := range e.up.last(t).Header.Values("Sec-WebSocket-Protocol") {
			for _, p := range strings.Split(v, ",") {
				out = append(out, strings.TrimSpace(p))
			}
		}
		return out
	}

	// A browser: its token and aiproxy stay with the gateway, convai goes on and is selected.
	c := mustDial(t, e, agent, "", "aiproxy", "aiproxy.token."+token, "convai")
	if c.Subprotocol() != "convai" {
		t.Errorf("client's selected subprotocol %q, want the provider's convai", c.Subprotocol())
	}
	writeMsg(t, c, websocket.MessageText, "ping")
	if _, got := readMsg(t, c); got != "ping" {
		t.Errorf("echo %q", got)
	}
	c.Close(websocket.StatusNormalClosure, "")
	if got := offeredUpstream(); !slices.Equal(got, []string{"convai"}) {
		t.Errorf("the provider was offered %q, want [convai]", got)
	}
	for _, h := range e.up.last(t).Header {
		if strings.Contains(strings.Join(h, ","), token) {
			t.Fatal("the browser token reached the provider")
		}
	}

	// A key in the header and several subprotocols: all but the gateway's, in order.
	c = mustDial(t, e, agent, "Api-Key "+e.memberA, "v2.other", "convai", "aiproxy")
	if c.Subprotocol() != "convai" {
		t.Errorf("selected %q, want convai", c.Subprotocol())
	}
	c.Close(websocket.StatusNormalClosure, "")
	if got := offeredUpstream(); !slices.Equal(got, []string{"v2.other", "convai"}) {
		t.Errorf("the provider was offered %q", got)
	}

	// The token alone: nothing goes to the provider, the gateway's rules select the token.
	c = mustDial(t, e, agent, "", "aiproxy.token."+token)
	if got := offeredUpstream(); len(got) != 0 {
		t.Errorf("the provider was offered %q, want nothing", got)
	}
	if c.Subprotocol() != "aiproxy.token."+token {
		t.Errorf("selected %q, want the token's, the only one offered", c.Subprotocol())
	}
	if code, reason := readClose(t, c); code != 4400 {
		t.Errorf("close %d %q, want the provider's 4400", code, reason)
	}
}
