package httpapi_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/aiproxy/aiproxy/internal/httpapi"
	"github.com/aiproxy/aiproxy/internal/redislimit"
)

// realtimeRedis returns a Redis limiter on AIPROXY_TEST_REDIS_ADDR under a key prefix of
// this test's own (deleted at the end): skipped without the variable, failed when it is set
// and Redis does not answer.
func realtimeRedis(t *testing.T, prefix string) *redislimit.Limiter {
	t.Helper()
	addr := os.Getenv("AIPROXY_TEST_REDIS_ADDR")
	if addr == "" {
		t.Skip("AIPROXY_TEST_REDIS_ADDR is not set: skipping the shared realtime session count (e.g. AIPROXY_TEST_REDIS_ADDR=127.0.0.1:6379)")
	}
	c, err := redislimit.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("AIPROXY_TEST_REDIS_ADDR=%s does not answer: %v", addr, err)
	}
	t.Cleanup(func() {
		keys, _ := c.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(context.Background(), keys...)
		}
	})
	return redislimit.New(c, redislimit.Options{Prefix: prefix})
}

// Two replicas sharing one Redis hold one org to its session limit together; a session
// whose replica died stops counting once its lease ends.
func TestRealtimeSessionLimitAcrossReplicas(t *testing.T) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	prefix := "aiproxy-test:" + hex.EncodeToString(b) + ":"
	const lease = 600 * time.Millisecond
	limits := httpapi.RealtimeLimits{MaxSessionsPerOrg: 1, SessionLease: lease}
	replica := func() (*env, *redislimit.Limiter) {
		l := realtimeRedis(t, prefix)
		e := newEnv(t, envOptions{realtime: limits, limiter: l})
		p := &fakeProvider{}
		e.up.set(p.handler(t))
		t.Cleanup(p.wg.Wait)
		return e, l
	}
	e1, _ := replica()
	e2, l2 := replica()
	if e1.orgA.ID != e2.orgA.ID {
		t.Fatalf("the replicas' org A differ: %d, %d", e1.orgA.ID, e2.orgA.ID)
	}

	c := mustDial(t, e1, ttsWS+"?voice_id=v", "Api-Key "+e1.memberA)
	writeMsg(t, c, websocket.MessageText, "ping")
	readMsg(t, c)
	time.Sleep(2 * lease) // the session outlives its first lease: renewed
	refused := func() {
		t.Helper()
		_, resp, err := e2.dialWS(t, ttsWS+"?voice_id=v", "Api-Key "+e2.memberA)
		if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("a session over the limit on the other replica: %v %+v, want 429", err, resp)
		}
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), "Too many realtime sessions in progress for this organization.") || resp.Header.Get("Retry-After") != "1" {
			t.Errorf("429: %s, Retry-After %q", body, resp.Header.Get("Retry-After"))
		}
	}
	refused()

	// Ended on the first replica: the second may open one.
	c.Close(websocket.StatusNormalClosure, "")
	admitted := func(within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			c2, _, err := e2.dialWS(t, ttsWS+"?voice_id=v", "Api-Key "+e2.memberA)
			if err == nil {
				c2.Close(websocket.StatusNormalClosure, "")
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the org's session was not given back: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	admitted(3 * time.Second)

	// A replica that died with a session in progress never leaves nor renews: its session
	// counts until its lease ends.
	// (Once the session just closed has left.)
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ok, err := l2.EnterSession(context.Background(), e2.orgA.ID, "dead-replica-session", 1, lease)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the org's sessions were not given back")
		}
	}
	start := time.Now()
	refused()
	admitted(3 * time.Second)
	if d := time.Since(start); d > lease+time.Second {
		t.Errorf("the dead session's slot came back after %s, lease %s", d, lease)
	}
}
