package httpapi_test

// Idempotency-Key (docs/cost-control.md): the first request with a key runs; a duplicate
// while it runs is 409; a completed duplicate gets the stored answer again without an
// upstream call; a different request under the same key is 422; a request that may have
// run upstream without an answer keeps its key taken (409, outcome unknown); a request
// refused before the upstream frees its key. The recording upstream counts every call.

import (
	"context"
	"github.com/aiproxy/aiproxy/internal/httpapi"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

const (
	bodyIdemInProgress = `{"detail": "A request with this Idempotency-Key is still in progress."}`
	bodyIdemMismatch   = `{"detail": "This Idempotency-Key was already used with a different request."}`
	bodyIdemNotKept    = `{"detail": "The answer to the request with this Idempotency-Key was too large to keep, so it cannot be replayed."}`
	bodyIdemUnknown    = `{"detail": "The outcome of the request with this Idempotency-Key is unknown: the provider may have run it. Check the org's jobs (GET …/orgs/org-a/jobs/) before sending it again with a new key."}`
	bodyIdemBadKey     = `{"error": "Header 'Idempotency-Key' must be sent once, as 1 to 255 printable ASCII characters."}`
	bodyIdemRequired   = `{"error": "This organization requires an Idempotency-Key header on billable actions."}`
)

const itemEnvelope = `{"path_params": {"item_id": "7"}, "body": {"name": "first", "tags": ["a", "b"]}}`

// countingJSON answers every call with 201 and a body that says how many calls came.
func countingJSON(e *acctEnv) {
	var mu sync.Mutex
	n := 0
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id": "item-7", "call": ` + strconv.Itoa(k) + `}`))
	})
}

func assertReplay(t *testing.T, got, first response) {
	t.Helper()
	if got.Status != first.Status || string(got.Body) != string(first.Body) || got.Header.Get("Content-Type") != first.Header.Get("Content-Type") {
		t.Errorf("replay = %d %q %s, want %d %q %s", got.Status, got.Header.Get("Content-Type"), got.Body,
			first.Status, first.Header.Get("Content-Type"), first.Body)
	}
	if got.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay without Idempotent-Replayed: true (headers %v)", got.Header)
	}
}

func TestIdempotentRepeatReplaysTheStoredAnswerWithoutCallingTheUpstream(t *testing.T) {
	eachStore(t, func(t *testing.T, o acctOptions) {
		e := newAcctEnv(t, o)
		countingJSON(e)
		first := e.callKey(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, "order-1")
		if first.Status != http.StatusCreated || string(first.Body) != `{"id": "item-7", "call": 1}` {
			t.Fatalf("first: %d %s", first.Status, first.Body)
		}
		if v, ok := first.Header["Idempotent-Replayed"]; ok {
			t.Errorf("the first answer says Idempotent-Replayed: %v", v)
		}
		r := e.replayOf(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, "order-1")
		assertReplay(t, r, first)
		// The same request written differently (member order, white space) is the same request.
		same := "{\n  \"body\": {\"tags\": [\"a\", \"b\"], \"name\": \"first\"},\n  \"path_params\": {\"item_id\": \"7\"}\n}"
		assertReplay(t, e.callKey(e.adminA, "org-a", "testsvc", "post-json", same, "order-1"), first)
		// A member of org-a with the same key shares org-a's keys.
		assertReplay(t, e.callKey(e.memberA, "org-a", "testsvc", "post-json", itemEnvelope, "order-1"), first)
		e.expectCalls("replays", 1)

		// Keys are the org's: org-b's "order-1" is another key, and another key is another request.
		if r := e.callKey(e.adminB, "org-b", "testsvc", "post-json", itemEnvelope, "order-1"); r.Status != http.StatusCreated || string(r.Body) != `{"id": "item-7", "call": 2}` {
			t.Errorf("org-b's order-1: %d %s", r.Status, r.Body)
		}
		if r := e.callKey(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, "order-2"); r.Status != http.StatusCreated || string(r.Body) != `{"id": "item-7", "call": 3}` {
			t.Errorf("org-a's order-2: %d %s", r.Status, r.Body)
		}
		// Without a key, every request runs.
		e.call(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope)
		e.call(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope)
		e.expectCalls("other keys and no key", 5)
	})
}

func TestIdempotencyKeyReusedForADifferentRequestIs422(t *testing.T) {
	eachStore(t, func(t *testing.T, o acctOptions) {
		e := newAcctEnv(t, o)
		countingJSON(e)
		first := e.callKey(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, "k-422")
		if first.Status != http.StatusCreated {
			t.Fatalf("first: %d %s", first.Status, first.Body)
		}
		assertReplay(t, e.replayOf(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, "k-422"), first)
		for _, c := range []struct{ action, envelope string }{
			{"post-json", `{"path_params": {"item_id": "7"}, "body": {"name": "second", "tags": ["a", "b"]}}`},
			{"post-json", `{"path_params": {"item_id": "8"}, "body": {"name": "first", "tags": ["a", "b"]}}`},
			{"post-json", `{"path_params": {"item_id": "7"}, "body": {"name": "first", "tags": ["b", "a"]}}`},
			{"post-json", `{"path_params": {"item_id": "7"}, "query": {"x": "1"}, "body": {"name": "first", "tags": ["a", "b"]}}`},
			{"get-json", `{}`},
		} {
			assertBody(t, e.callKey(e.adminA, "org-a", "testsvc", c.action, c.envelope, "k-422"), 422, bodyIdemMismatch)
		}
		e.expectCalls("different requests under a used key", 1)
	})
}

func TestIdempotentRepeatWhileTheFirstRunsIs409(t *testing.T) {
	eachStore(t, func(t *testing.T, o acctOptions) {
		e := newAcctEnv(t, o)
		arrived, release := make(chan struct{}), make(chan struct{})
		e.up.set(func(w http.ResponseWriter, r *http.Request) {
			close(arrived)
			<-release
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"done": true}`))
		})
		done := make(chan response)
		go func() { done <- e.callKey(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, "busy") }()
		select {
		case <-arrived:
		case <-time.After(5 * time.Second):
			t.Fatal("the first request never reached the upstream")
		}
		assertBody(t, e.callKey(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, "busy"), 409, bodyIdemInProgress)
		// While it runs, even a different request under the key is told it is in progress.
		assertBody(t, e.callKey(e.adminA, "org-a", "testsvc", "get-json", `{}`, "busy"), 409, bodyIdemInProgress)
		close(release)
		first := <-done
		if first.Status != http.StatusOK || string(first.Body) != `{"done": true}` {
			t.Fatalf("first: %d %s", first.Status, first.Body)
		}
		assertReplay(t, e.replayOf(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, "busy"), first)
		e.expectCalls("a duplicate in flight", 1)
	})
}

func TestIdempotentPassthroughAndStreamAnswersAreKeptUpToTheLimit(t *testing.T) {
	const limit = 1024
	e := newAcctEnv(t, acctOptions{idemMaxBody: limit})
	size := 0
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/blob":
			w.Header().Set("Content-Type", "audio/mpeg")
		case "/v1/stream":
			w.Header().Set("Content-Type", "text/event-stream")
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"pad": "` + strings.Repeat("j", size) + `"}`))
			return
		}
		// Several writes, flushed: a stream arrives in pieces.
		b := []byte(strings.Repeat("x", size))
		for len(b) > 0 {
			n := min(len(b), 300)
			_, _ = w.Write(b[:n])
			w.(http.Flusher).Flush()
			b = b[n:]
		}
	})
	calls := 0
	for _, action := range []string{"download", "stream"} {
		for _, c := range []struct {
			size int
			kept bool
		}{{limit, true}, {limit + 1, false}, {10, true}} {
			size = c.size
			key := action + "-" + strconv.Itoa(c.size)
			first := e.callKey(e.adminA, "org-a", "testsvc", action, `{}`, key)
			calls++
			if first.Status != http.StatusOK || len(first.Body) != c.size {
				t.Fatalf("%s: first answer %d with %d bytes, want 200 with %d", key, first.Status, len(first.Body), c.size)
			}
			r := e.replayOf(e.adminA, "org-a", "testsvc", action, `{}`, key)
			if c.kept {
				assertReplay(t, r, first)
			} else {
				assertBody(t, r, 409, bodyIdemNotKept)
			}
		}
	}
	// json answers are kept whatever their size.
	size = 4 * limit
	first := e.callKey(e.adminA, "org-a", "testsvc", "post-json", `{"path_params": {"item_id": "1"}}`, "big-json")
	calls++
	if first.Status != http.StatusOK || len(first.Body) < 4*limit {
		t.Fatalf("big json: %d, %d bytes", first.Status, len(first.Body))
	}
	assertReplay(t, e.replayOf(e.adminA, "org-a", "testsvc", "post-json", `{"path_params": {"item_id": "1"}}`, "big-json"), first)
	e.expectCalls("kept and unkept answers", calls)
}

func TestIdempotentRequestWithoutAnAnswerLeavesItsOutcomeUnknown(t *testing.T) {
	eachStore(t, func(t *testing.T, o acctOptions) {
		e := newAcctEnv(t, o)
		e.up.set(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Query().Get("fault") {
			case "hang": // past testsvc's 1 s timeout
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			case "cut":
				hijackAndClose(t, w)
			}
		})
		for _, c := range []struct{ fault, first string }{
			{"hang", `{"detail": "The upstream external service did not respond in time."}`},
			{"cut", `{"detail": "The upstream external service request failed."}`},
		} {
			t.Run(c.fault, func(t *testing.T) {
				env := `{"path_params": {"item_id": "1"}, "query": {"fault": "` + c.fault + `"}, "body": {"charge": 100}}`
				n := e.up.count()
				first := e.callKey(e.adminA, "org-a", "testsvc", "post-json", env, "unknown-"+c.fault)
				assertBody(t, first, map[string]int{"hang": 504, "cut": 502}[c.fault], c.first)
				// The provider may have run it: the key stays taken, whatever is sent under it.
				assertBody(t, e.callKey(e.adminA, "org-a", "testsvc", "post-json", env, "unknown-"+c.fault), 409, bodyIdemUnknown)
				assertBody(t, e.callKey(e.adminA, "org-a", "testsvc", "get-json", `{}`, "unknown-"+c.fault), 409, bodyIdemUnknown)
				e.expectCalls("after an unanswered call", n+1)
			})
		}
	})
}

// An answer that breaks off after it started (the stream's connection is lost) has run
// upstream, and cannot be replayed whole: the key stays taken with the outcome unknown.
func TestIdempotentAnswerCutMidStreamLeavesItsOutcomeUnknown(t *testing.T) {
	e := newAcctEnv(t)
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte("data: first\n\n"))
		w.(http.Flusher).Flush()
		time.Sleep(20 * time.Millisecond)
		hijackAndClose(t, w)
	})
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/ai-proxy/orgs/org-a/services/testsvc/stream/", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Api-Key "+e.adminA)
	req.Header.Set("Idempotency-Key", "cut-stream")
	if resp, err := e.srv.Client().Do(req); err == nil {
		_, err = readAllErr(resp)
		if err == nil {
			t.Fatal("the cut stream read as whole")
		}
	}
	r := e.replayOf(e.adminA, "org-a", "testsvc", "stream", `{}`, "cut-stream")
	assertBody(t, r, 409, bodyIdemUnknown)
	e.expectCalls("a cut stream", 1)
}

func TestIdempotentUpstreamErrorAnswersAreStoredLikeAnyOther(t *testing.T) {
	e := newAcctEnv(t)
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		status, _ := strconv.Atoi(r.URL.Query().Get("status"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"error": "upstream says ` + strconv.Itoa(status) + `"}`))
	})
	for i, status := range []int{400, 404, 500, 503} {
		env := `{"path_params": {"item_id": "1"}, "query": {"status": "` + strconv.Itoa(status) + `"}}`
		key := "err-" + strconv.Itoa(status)
		first := e.callKey(e.adminA, "org-a", "testsvc", "post-json", env, key)
		assertBody(t, first, 502, `{"detail": "The upstream external service request failed.", "upstream_status": `+strconv.Itoa(status)+
			`, "upstream_body": {"error": "upstream says `+strconv.Itoa(status)+`"}}`)
		assertReplay(t, e.replayOf(e.adminA, "org-a", "testsvc", "post-json", env, key), first)
		e.expectCalls(key, i+1)
	}
}

func TestIdempotencyKeyIsFreedWhenTheRequestIsRefusedBeforeTheUpstream(t *testing.T) {
	eachStore(t, func(t *testing.T, o acctOptions) {
		e := newAcctEnv(t, o)
		countingJSON(e)
		// A bad envelope: nothing ran, and the corrected request may use the key.
		assertBody(t, e.callKey(e.adminA, "org-a", "testsvc", "post-json", `{"body": {"name": "x"}}`, "fix-me"), 400,
			`{"error": "Missing required path parameter: item_id"}`)
		if r := e.callKey(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, "fix-me"); r.Status != http.StatusCreated {
			t.Errorf("corrected request: %d %s", r.Status, r.Body)
		}
		e.expectCalls("a refused then a corrected request", 1)

		// On the shared key: a job the org does not own (404), an account action (403).
		e.platformPolicy("heygen")
		assertBody(t, e.callKey(e.adminB, "org-b", "heygen", "video-status", `{"query": {"video_id": "not-mine"}}`, "shared-1"), 404, bodyNotFound)
		assertBody(t, e.callKey(e.adminB, "org-b", "heygen", "get-remaining-quota", `{}`, "shared-1"), 403, bodyAccountAction)
		if r := e.callKey(e.adminB, "org-b", "heygen", "list-voices", `{}`, "shared-1"); r.Status != http.StatusCreated {
			t.Errorf("a third request under a key twice refused: %d %s", r.Status, r.Body)
		}
		e.expectCalls("refusals on the shared key", 2)

		// Over budget (402): nothing ran.
		e.platformPolicy("elevenlabs")
		if r := e.admCall("PUT", "/orgs/org-b/budgets/elevenlabs/", e.operator, `{"period": "day", "limits": {"requests": 1}}`); r.Status != http.StatusOK {
			t.Fatalf("budget: %d %s", r.Status, r.Body)
		}
		e.callKey(e.adminB, "org-b", "elevenlabs", "list-voices", `{}`, "budget-1")
		if r := e.callKey(e.adminB, "org-b", "elevenlabs", "list-voices", `{}`, "budget-2"); r.Status != http.StatusPaymentRequired {
			t.Fatalf("over budget: %d %s", r.Status, r.Body)
		}
		if r := e.admCall("DELETE", "/orgs/org-b/budgets/elevenlabs/", e.operator, ""); r.Status != http.StatusNoContent {
			t.Fatalf("delete budget: %d %s", r.Status, r.Body)
		}
		if r := e.callKey(e.adminB, "org-b", "elevenlabs", "list-voices", `{}`, "budget-2"); r.Status != http.StatusCreated || r.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("the key of a 402, once the budget is gone: %d %v %s", r.Status, r.Header, r.Body)
		}
		e.expectCalls("a 402 and its retry", 4)
	})
}

func TestBadIdempotencyKeyIs400NamingTheHeader(t *testing.T) {
	e := newAcctEnv(t)
	countingJSON(e)
	for name, key := range map[string]string{
		"empty":     "",
		"256 chars": strings.Repeat("k", 256),
		"a tab":     "order\t1",
		"not ASCII": "commande-é",
		"100 × é":   strings.Repeat("é", 100),
	} {
		r := e.callKey(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, key)
		if r.Status != 400 || string(r.Body) != `{"error":"Header 'Idempotency-Key' must be sent once, as 1 to 255 printable ASCII characters."}` {
			t.Errorf("%s: %d %s, want 400 %s", name, r.Status, r.Body, bodyIdemBadKey)
		}
	}
	e.expectCalls("bad keys", 0)
	// The header twice: the gateway does not pick one.
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/ai-proxy/orgs/org-a/services/testsvc/post-json/", strings.NewReader(itemEnvelope))
	req.Header.Set("Authorization", "Api-Key "+e.adminA)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Add("Idempotency-Key", "order-1")
	req.Header.Add("Idempotency-Key", "order-2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "must be sent once") {
		t.Errorf("two Idempotency-Key headers: %d %s, want 400 %s", resp.StatusCode, body, bodyIdemBadKey)
	}
	e.expectCalls("two keys", 0)
	for _, key := range []string{strings.Repeat("k", 255), "x", ` !"#$%&'()*+,-./09:;<=>?@AZ[\]^_` + "`az{|}~"} {
		first := e.callKey(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, key)
		if first.Status != http.StatusCreated {
			t.Errorf("key %q: %d %s", key, first.Status, first.Body)
			continue
		}
		assertReplay(t, e.replayOf(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, key), first)
	}
	e.expectCalls("good keys", 3)
}

func TestOrgRequiringIdempotencyKeysRefusesBillableActionsWithoutOne(t *testing.T) {
	e := newAcctEnv(t)
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/voices" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"voices": []}`))
			return
		}
		w.Header().Set("Content-Type", "audio/mpeg")
		_, _ = w.Write([]byte("ID3-audio"))
	})
	const settings = "/orgs/org-a/services/elevenlabs/settings/"
	assertBody(t, e.admCall("PUT", settings, e.adminA, `{"require_idempotency_key": "yes"}`), 400,
		`{"error": "Field 'require_idempotency_key' must be true, false or null."}`)
	assertBody(t, e.admCall("PUT", settings, e.memberA, `{"require_idempotency_key": true}`), 403, admForbidden)
	// The org's admins decide it: it protects their own money.
	r := e.admCall("PUT", settings, e.adminA, `{"require_idempotency_key": true}`)
	if r.Status != http.StatusOK {
		t.Fatalf("setting require_idempotency_key: %d %s", r.Status, r.Body)
	}
	assertJSONField(t, r, "require_idempotency_key", `true`)

	tts := `{"path_params": {"voice_id": "v1"}, "body": {"text": "Hello."}}`
	assertBody(t, e.call(e.adminA, "org-a", "elevenlabs", "tts", tts), 400, bodyIdemRequired)
	assertBody(t, e.call(e.adminA, "org-a", "elevenlabs", "tts-stream", tts), 400, bodyIdemRequired)
	e.expectCalls("billable actions without a key", 0)
	if r := e.callKey(e.adminA, "org-a", "elevenlabs", "tts", tts, "tts-1"); r.Status != http.StatusOK || string(r.Body) != "ID3-audio" {
		t.Errorf("tts with a key: %d %s", r.Status, r.Body)
	}
	// Actions that cost nothing need none.
	if r := e.call(e.adminA, "org-a", "elevenlabs", "list-voices", `{}`); r.Status != http.StatusOK {
		t.Errorf("list-voices without a key: %d %s", r.Status, r.Body)
	}
	// Other orgs are not concerned.
	e.platformPolicy("elevenlabs")
	e.tenantPolicy("elevenlabs", e.orgA)
	if r := e.call(e.adminB, "org-b", "elevenlabs", "tts", tts); r.Status != http.StatusOK {
		t.Errorf("org-b's tts without a key: %d %s", r.Status, r.Body)
	}
	e.expectCalls("with keys, and another org", 3)

	// Cleared, keys are optional again.
	if r := e.admCall("PUT", settings, e.adminA, `{"require_idempotency_key": null}`); r.Status != http.StatusOK {
		t.Fatalf("clearing: %d %s", r.Status, r.Body)
	}
	if r := e.call(e.adminA, "org-a", "elevenlabs", "tts", tts); r.Status != http.StatusOK {
		t.Errorf("tts without a key once cleared: %d %s", r.Status, r.Body)
	}
	// Both changes were audited with the admin as actor.
	var n int
	for _, a := range e.audit("/orgs/org-a/audit/") {
		if a.Action == "service.settings" && a.Target == "elevenlabs" && a.Actor == admPrefix(e.adminA) &&
			strings.Contains(string(a.Before)+string(a.After), `"require_idempotency_key"`) {
			n++
		}
	}
	if n != 2 {
		t.Errorf("audited require_idempotency_key changes by org-a's admin: %d, want 2", n)
	}
}

func TestIdempotencyKeyMayBeUsedAgainAfter24Hours(t *testing.T) {
	e := newAcctEnv(t)
	countingJSON(e)
	first := e.callKey(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, "daily")
	if first.Status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.Status, first.Body)
	}
	other := `{"path_params": {"item_id": "9"}}`
	e.clock.Advance(24*time.Hour - time.Second)
	assertReplay(t, e.replayOf(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, "daily"), first)
	assertBody(t, e.callKey(e.adminA, "org-a", "testsvc", "post-json", other, "daily"), 422, bodyIdemMismatch)
	e.clock.Advance(2 * time.Second)
	if r := e.callKey(e.adminA, "org-a", "testsvc", "post-json", other, "daily"); r.Status != http.StatusCreated || string(r.Body) != `{"id": "item-7", "call": 2}` {
		t.Errorf("the key a day later: %d %s", r.Status, r.Body)
	}
	e.expectCalls("a key reused after a day", 2)
}

// A record left in progress by a process that died is in progress until its lease ends,
// then unknown: the provider may have run it.
func TestIdempotentRecordOfADeadProcessIsUnknownOnceItsLeaseEnds(t *testing.T) {
	e := newAcctEnv(t)
	now := e.clock.Now()
	if existing, err := e.store.BeginIdempotent(context.Background(), &aiproxy.IdempotencyRecord{OrgID: e.orgA.ID, Key: "orphan",
		State: aiproxy.IdemInProgress, RequestID: "dead", CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour),
		LeaseUntil: now.Add(time.Minute)}); err != nil || existing != nil {
		t.Fatal(existing, err)
	}
	assertBody(t, e.callKey(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, "orphan"), 409, bodyIdemInProgress)
	e.clock.Advance(2 * time.Minute)
	assertBody(t, e.callKey(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, "orphan"), 409, bodyIdemUnknown)
	e.expectCalls("an orphaned key", 0)
}

// The lease of a running request outlasts the action's timeout, so a slow but live call is
// never taken for a dead one.
func TestIdempotentLeaseOutlastsTheActionsTimeout(t *testing.T) {
	e := newAcctEnv(t)
	arrived, release := make(chan struct{}), make(chan struct{})
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		_, _ = w.Write([]byte(`{}`))
	})
	done := make(chan response)
	go func() { done <- e.callKey(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, "slow") }()
	<-arrived
	svc := e.mgr.Catalog.Service("testsvc")
	e.clock.Advance(svc.TimeoutFor(svc.Endpoint("post-json")) + 9*time.Minute)
	assertBody(t, e.callKey(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, "slow"), 409, bodyIdemInProgress)
	close(release)
	<-done
}

// TestIdempotentLeaseOfALongRequestIsRenewedWhileItRuns: a request that runs for hours (a
// slow upload, a long stream) keeps its key "in progress": its lease is renewed while it
// runs, so it is never taken for a dead process's.
func TestIdempotentLeaseOfALongRequestIsRenewedWhileItRuns(t *testing.T) {
	defer httpapi.SetLeaseRenewEvery(20 * time.Millisecond)()
	e := newAcctEnv(t)
	arrived, release := make(chan struct{}), make(chan struct{})
	e.up.set(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		_, _ = w.Write([]byte(`{}`))
	})
	done := make(chan response)
	go func() { done <- e.callKey(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, "long") }()
	<-arrived
	e.clock.Advance(5 * time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := e.callKey(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, "long")
		if r.Status == 409 && string(r.Body) == `{"detail":"A request with this Idempotency-Key is still in progress."}` {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("five hours in, a running request's key answers %d %s, want still in progress", r.Status, r.Body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	<-done
}

func TestIdempotentConcurrentDuplicatesCallTheUpstreamOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, o acctOptions) {
		e := newAcctEnv(t, o)
		e.up.set(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(50 * time.Millisecond)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"once": true}`))
		})
		const n = 12
		answers := make(chan response, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers <- e.callKey(e.adminA, "org-a", "testsvc", "post-json", itemEnvelope, "stampede")
			}()
		}
		wg.Wait()
		close(answers)
		ran, busy := 0, 0
		for r := range answers {
			switch {
			case r.Status == 200 && string(r.Body) == `{"once": true}`:
				ran++ // the first, or a replay of it
			case r.Status == 409 && string(r.Body) == `{"detail":"A request with this Idempotency-Key is still in progress."}`:
				busy++
			default:
				t.Errorf("unexpected answer %d %s", r.Status, r.Body)
			}
		}
		if ran < 1 || ran+busy != n {
			t.Errorf("%d ran or replayed, %d in progress, of %d", ran, busy, n)
		}
		e.expectCalls("a stampede of duplicates", 1)
	})
}
