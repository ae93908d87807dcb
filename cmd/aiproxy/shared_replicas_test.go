package main

// Properties of a shared account across real replicas (processes of the shipped binary on
// one database, PostgreSQL or SQLite, with or without Redis), raced by many clients:
//
//   - Budgets: the units admitted never exceed the budget (counted both by the clients'
//     2xx answers and by the upstream), and no request that fit was refused: every 402
//     says used + requested > limit, and once the race is over what is left of the budget
//     is smaller than the smallest request refused. Units of requests the upstream
//     refused are given back. With Redis as the ledger, and with a Redis nobody listens on
//     (the replicas fail over to the store: never open).
//   - Idempotency keys: one key sent at the same instant to two replicas runs upstream
//     once; the other client is told the request is in progress or gets the answer again.
//
// The upstream is the ElevenLabs simulator behind a counting http.Handler, so that what
// it received is known exactly. Servers and fixtures come from replicas_test.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/aiproxy/aiproxy/internal/budgets"
	"github.com/aiproxy/aiproxy/internal/postgres/pgtest"
	"github.com/aiproxy/aiproxy/internal/proctest"
	"github.com/aiproxy/aiproxy/internal/sim"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

// ---- the upstream, counted ----

// ttsCall is one text-to-speech call the upstream received.
type ttsCall struct {
	text   string
	model  string
	chars  int // runes of text, as the gateway meters them
	status int // what the simulator answered
}

// countingUpstream is the simulator behind a handler that records every text-to-speech
// call it receives, and can hold each one for a while before the simulator answers.
type countingUpstream struct {
	h     http.Handler
	url   string
	delay atomic.Int64 // nanoseconds each TTS call is held before the simulator sees it

	mu    sync.Mutex
	calls []ttsCall
}

// startCountingSim serves both simulators behind a countingUpstream.
func startCountingSim(t *testing.T) *countingUpstream {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	s := sim.New(simcore.Options{Speed: 50, Seed: 1, PublicURL: "http://" + srv.Listener.Addr().String()})
	u := &countingUpstream{h: s}
	srv.Config.Handler = u
	srv.Start()
	u.url = srv.URL
	t.Cleanup(s.Close)
	t.Cleanup(srv.Close)
	return u
}

type statusWriter struct {
	http.ResponseWriter
	status int
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
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (u *countingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/v1/text-to-speech/") {
		u.h.ServeHTTP(w, r)
		return
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	var body struct {
		Text  string `json:"text"`
		Model string `json:"model_id"`
	}
	_ = json.Unmarshal(b, &body)
	if d := time.Duration(u.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	sw := &statusWriter{ResponseWriter: w}
	u.h.ServeHTTP(sw, r)
	u.mu.Lock()
	u.calls = append(u.calls, ttsCall{text: body.Text, model: body.Model, chars: utf8.RuneCountInString(body.Text), status: sw.status})
	u.mu.Unlock()
}

// received returns the TTS calls received so far.
func (u *countingUpstream) received() []ttsCall {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.calls)
}

// ---- the cluster ----

const (
	sharedOrg      = "shared"
	sharedElevenLK = "el-shared-tenant-key-3b8e51c07a4d"
	badModel       = "no_such_model" // the simulator refuses it: 400 model_not_found
)

// sharedCluster is replicas of the binary on one database, an org with a member key and a
// tenant ElevenLabs key, in front of a counting simulator.
type sharedCluster struct {
	t        *testing.T
	db       string
	up       *countingUpstream
	replicas []*server
	orgID    int64
	key      string // the org's member key
}

// clusterOptions configure newSharedCluster.
type clusterOptions struct {
	replicas  int
	budget    int64  // characters per month; 0: no budget
	redisAddr string // --redis-addr of every replica; "": none
	redisKeys string // --redis-prefix of every replica; "": the default
}

func newSharedCluster(t *testing.T, db string, o clusterOptions) *sharedCluster {
	t.Helper()
	bin := proctest.Build(t)
	c := &sharedCluster{t: t, db: db, up: startCountingSim(t)}
	env := proctest.Env("AIPROXY_MASTER_KEY=" + randomHex(32))
	proctest.Run(t, bin, env, "", "migrate", "--db", db)
	isPG := strings.HasPrefix(db, "postgres")
	if isPG {
		// Redis keys name budgets by org id; every test database starts its ids at 1, so
		// that tests sharing one Redis would share counters. A random first id keeps them
		// apart.
		pgExec(t, db, `SELECT setval(pg_get_serial_sequence('orgs', 'id'), $1)`, rand.Int64N(1e15)+1e6)
	}
	proctest.Run(t, bin, env, "", "org", "create", sharedOrg, "--db", db)
	c.key = strings.TrimSpace(proctest.Run(t, bin, env, "", "key", "create", "--org", sharedOrg, "--role", "member", "--name", "app", "--db", db))
	proctest.Run(t, bin, env, sharedElevenLK+"\n", "credential", "set", "elevenlabs", "--org", sharedOrg, "--key", "-", "--db", db)
	if o.budget > 0 {
		proctest.Run(t, bin, env, "", "budget", "set", "elevenlabs", "--org", sharedOrg, "--period", "month",
			"--characters", strconv.FormatInt(o.budget, 10), "--db", db)
	}
	if isPG {
		c.orgID = pgInt(t, db, `SELECT id FROM orgs WHERE slug = $1`, sharedOrg)
	}
	args := []string{"--db", db, "--upstream", "elevenlabs=" + c.up.url}
	if o.redisAddr != "" {
		args = append(args, "--redis-addr", o.redisAddr)
	}
	if o.redisKeys != "" {
		args = append(args, "--redis-prefix", o.redisKeys)
	}
	for i := range o.replicas {
		c.replicas = append(c.replicas, startServer(t, fmt.Sprintf("replica %c", 'A'+i), bin, env, args...))
	}
	t.Cleanup(sharedClient.CloseIdleConnections)
	return c
}

// sharedClient keeps enough idle connections for every racing client.
var sharedClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}

// answer is one invoke as a client saw it.
type answer struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// tts invokes elevenlabs/tts on replica s with text and model, with an Idempotency-Key
// when idemKey is not empty.
func (c *sharedCluster) tts(s *server, text, model, idemKey string) answer {
	env, _ := json.Marshal(map[string]any{
		"path_params": map[string]any{"voice_id": rachel},
		"body":        map[string]any{"text": text, "model_id": model},
	})
	req, err := http.NewRequest(http.MethodPost, s.url+"/orgs/"+sharedOrg+"/services/elevenlabs/tts/", bytes.NewReader(env))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Authorization", "Api-Key "+c.key)
	req.Header.Set("Content-Type", "application/json")
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := sharedClient.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

// textOf returns a text of exactly n runes that starts with tag (unique, so that the
// upstream's calls can be told apart), padded with letters, some of them two bytes long
// (the budget counts characters, not bytes).
func textOf(tag string, n int) string {
	const pad = "abcdéfghijklmnöpqrstüvwxyz"
	var b strings.Builder
	b.WriteString(tag)
	p := []rune(pad)
	for i := utf8.RuneCountInString(tag); i < n; i++ {
		b.WriteRune(p[i%len(p)])
	}
	return b.String()
}

// ---- databases and Redis ----

func pgExec(t *testing.T, dsn, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func pgInt(t *testing.T, dsn, sql string, args ...any) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// testRedisAddr is the Redis at AIPROXY_TEST_REDIS_ADDR: the test is skipped when it is
// not set, and fails when it does not answer.
func testRedisAddr(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("AIPROXY_TEST_REDIS_ADDR")
	if addr == "" {
		t.Skip("AIPROXY_TEST_REDIS_ADDR is not set: skipping (e.g. AIPROXY_TEST_REDIS_ADDR=127.0.0.1:6379)")
	}
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rc.Ping(ctx).Err(); err != nil {
		t.Fatalf("AIPROXY_TEST_REDIS_ADDR=%s does not answer: %v", addr, err)
	}
	return addr
}

// forgetRedisBudgets deletes the budget keys of org from Redis when the test ends.
func forgetRedisBudgets(t *testing.T, addr string, orgID int64) {
	t.Cleanup(func() {
		rc := redis.NewClient(&redis.Options{Addr: addr})
		defer rc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		base := budgets.DefaultPrefix + strconv.FormatInt(orgID, 10) + ":"
		keys, err := rc.Keys(ctx, base+"*").Result()
		if err != nil {
			t.Logf("cleaning up Redis: %v", err)
			return
		}
		if len(keys) > 0 {
			rc.Del(ctx, keys...)
		}
		bases, _ := rc.ZRange(ctx, budgets.DefaultPrefix+"windows", 0, -1).Result()
		for _, b := range bases {
			if strings.HasPrefix(b, base) {
				rc.ZRem(ctx, budgets.DefaultPrefix+"windows", b)
			}
		}
	})
}

// ---- the budget race ----

const (
	raceClients   = 64
	racePerClient = 4
	raceBudget    = 1009 // characters per month: prime, a multiple of no request size
)

// raceRequest is one request of the race and how it ended.
type raceRequest struct {
	client, n int
	replica   int
	text      string
	chars     int
	bad       bool // the upstream refuses it (unknown model)
	answer
}

// refusal is the body of a 402.
type refusal struct {
	Detail    string `json:"detail"`
	Unit      string `json:"unit"`
	Limit     int64  `json:"limit"`
	Used      int64  `json:"used"`
	Requested int64  `json:"requested"`
	ResetsAt  string `json:"resets_at"`
}

// raceSize is the size of request n of client c: 12 to 48 characters, varied.
func raceSize(c, n int) int { return 12 + (c*7+n*13)%37 }

// raceBad says whether request n of client c is one the upstream refuses, when the race
// has such requests: a third of them, larger than the others, so that units they kept
// would be missed.
func raceBad(c, n int) bool { return (c+n)%3 == 0 }

// race sends raceClients × racePerClient TTS requests, the clients spread over the
// replicas and started at once, and returns every request with its answer.
func (c *sharedCluster) race(withBad bool) []*raceRequest {
	var reqs []*raceRequest
	for cl := range raceClients {
		for n := range racePerClient {
			r := &raceRequest{client: cl, n: n, replica: cl % len(c.replicas), chars: raceSize(cl, n)}
			if withBad && raceBad(cl, n) {
				r.bad, r.chars = true, 60+cl%23
			}
			r.text = textOf(fmt.Sprintf("c%02dr%d:", cl, n), r.chars)
			reqs = append(reqs, r)
		}
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for cl := range raceClients {
		wg.Go(func() {
			<-start
			for _, r := range reqs[cl*racePerClient : (cl+1)*racePerClient] {
				model := "eleven_multilingual_v2"
				if r.bad {
					model = badModel
				}
				r.answer = c.tts(c.replicas[r.replica], r.text, model, "")
			}
		})
	}
	close(start)
	wg.Wait()
	return reqs
}

// checkRefusal checks a 402's body and returns it.
func checkRefusal(t *testing.T, what string, a answer, limit, requested int64) refusal {
	t.Helper()
	var rf refusal
	if err := json.Unmarshal(a.body, &rf); err != nil {
		t.Errorf("%s: 402 body is not JSON: %v: %s", what, err, a.body)
		return rf
	}
	var raw map[string]any
	_ = json.Unmarshal(a.body, &raw)
	for _, f := range []string{"unit", "limit", "used", "requested", "resets_at", "detail"} {
		if _, ok := raw[f]; !ok {
			t.Errorf("%s: 402 body has no %q: %s", what, f, a.body)
		}
	}
	_, wantResets := budgets.Window(budgets.PeriodMonth, time.Now())
	if rf.Unit != "characters" || rf.Limit != limit || rf.Requested != requested {
		t.Errorf("%s: 402 says unit %q, limit %d, requested %d; want characters, %d, %d", what, rf.Unit, rf.Limit, rf.Requested, limit, requested)
	}
	if rf.Used+rf.Requested <= rf.Limit {
		t.Errorf("%s: refused although it fit: used %d + requested %d <= limit %d", what, rf.Used, rf.Requested, rf.Limit)
	}
	if rf.Used < 0 || rf.Used > rf.Limit {
		t.Errorf("%s: 402 says used %d, outside 0..%d", what, rf.Used, rf.Limit)
	}
	if rt, err := time.Parse(time.RFC3339, rf.ResetsAt); err != nil || !rt.Equal(wantResets) {
		t.Errorf("%s: resets_at %q, want %s (the first of next month, UTC)", what, rf.ResetsAt, wantResets.Format(time.RFC3339))
	}
	return rf
}

// upstreamStatusOf is the upstream_status of an error answer, or 0.
func upstreamStatusOf(b []byte) int {
	var v struct {
		UpstreamStatus int `json:"upstream_status"`
	}
	_ = json.Unmarshal(b, &v)
	return v.UpstreamStatus
}

// checkBudgetRace runs the race and checks its properties: no overshoot (by the clients'
// count and by the upstream's), every 402 justified, nothing that fit refused (without
// upstream refusals: the budget only fills, so what was used when a request was refused
// is at most what was admitted in the end), units of upstream refusals given back, and
// the remainder usable afterwards.
func (c *sharedCluster) checkBudgetRace(withBad bool) {
	t := c.t
	t.Helper()
	const limit = raceBudget
	began := time.Now()
	reqs := c.race(withBad)
	took := time.Since(began)

	var admitted, admittedCalls, refused, upstreamRefused int64
	minRefused := int64(-1)
	var refusals []refusal
	byText := map[string]*raceRequest{}
	for _, r := range reqs {
		byText[r.text] = r
		what := fmt.Sprintf("client %d request %d (%d characters, replica %c, bad %v)", r.client, r.n, r.chars, 'A'+r.replica, r.bad)
		switch {
		case r.err != nil:
			t.Errorf("%s: %v", what, r.err)
		case r.status == http.StatusPaymentRequired:
			refused++
			refusals = append(refusals, checkRefusal(t, what, r.answer, limit, int64(r.chars)))
			if !r.bad && (minRefused < 0 || int64(r.chars) < minRefused) {
				minRefused = int64(r.chars)
			}
		case r.bad && r.status == http.StatusBadGateway && upstreamStatusOf(r.body)/100 == 4:
			upstreamRefused++ // the upstream's 400, passed on as 502 with upstream_status
		case !r.bad && r.status == http.StatusOK:
			admitted += int64(r.chars)
			admittedCalls++
			rem, err := strconv.ParseInt(r.header.Get("X-Budget-Remaining-Characters"), 10, 64)
			if err != nil || rem < 0 || rem > limit-int64(r.chars) {
				t.Errorf("%s: X-Budget-Remaining-Characters %q, want 0..%d", what, r.header.Get("X-Budget-Remaining-Characters"), limit-int64(r.chars))
			}
		default:
			t.Errorf("%s: status %d: %.300s", what, r.status, r.body)
		}
	}

	// What the upstream received: each admitted request once, answered 2xx; each bad one
	// it got, refused; nothing else.
	var upAdmitted, upCalls int64
	seen := map[string]int{}
	for _, call := range c.up.received() {
		seen[call.text]++
		r := byText[call.text]
		switch {
		case r == nil:
			t.Errorf("the upstream received a call nobody sent: %.40q", call.text)
		case r.bad:
			if call.status < 400 || call.status > 499 || r.status == http.StatusPaymentRequired {
				t.Errorf("bad request of client %d: the upstream answered %d, the client got %d", r.client, call.status, r.status)
			}
		default:
			if call.status/100 != 2 || r.status != http.StatusOK {
				t.Errorf("request of client %d: the upstream answered %d, the client got %d", r.client, call.status, r.status)
			}
			upAdmitted += int64(call.chars)
			upCalls++
		}
	}
	for text, n := range seen {
		if n != 1 {
			t.Errorf("the upstream received %.40q %d times", text, n)
		}
	}
	for _, r := range reqs {
		if (r.status == http.StatusOK || (r.bad && r.status != http.StatusPaymentRequired)) && seen[r.text] == 0 {
			t.Errorf("client %d request %d: answered %d but the upstream never received it", r.client, r.n, r.status)
		}
	}

	t.Logf("%d requests over %d replica(s) in %v: %d admitted (%d characters of %d; upstream counted %d in %d calls), %d refused 402 (smallest %d), %d refused upstream",
		len(reqs), len(c.replicas), took.Round(time.Millisecond), admittedCalls, admitted, limit, upAdmitted, upCalls, refused, minRefused, upstreamRefused)
	if admitted > limit || upAdmitted > limit {
		t.Errorf("overshoot: %d characters admitted (upstream: %d), budget %d", admitted, upAdmitted, limit)
	}
	if upAdmitted != admitted || upCalls != admittedCalls {
		t.Errorf("the upstream ran %d calls of %d characters; the clients got %d answers for %d characters", upCalls, upAdmitted, admittedCalls, admitted)
	}
	if refused == 0 {
		t.Errorf("no request was refused, although the race asked for far more than %d characters", limit)
	}
	if withBad && upstreamRefused == 0 {
		t.Errorf("no request reached the upstream to be refused: the race did not test giving units back")
	}
	if !withBad {
		// The budget only fills: what was used when a request was refused is at most what
		// was admitted in the end; then the request did not fit what remained.
		for _, rf := range refusals {
			if rf.Used > admitted {
				t.Errorf("a 402 said %d used, more than the %d admitted in the end (units counted but not spent)", rf.Used, admitted)
			}
		}
		if minRefused >= 0 && limit-admitted >= minRefused {
			t.Errorf("a request that fit was refused: %d characters remain, the smallest request refused had %d", limit-admitted, minRefused)
		}
	}
	if t.Failed() {
		return
	}
	c.checkRemainder(admitted)
}

// checkRemainder checks, once the race is over, that every replica counts exactly what
// was admitted (reservations of refused and failed calls given back), that the remainder
// can be spent to the last character, and no more, and that the store counts it all.
func (c *sharedCluster) checkRemainder(admitted int64) {
	t := c.t
	t.Helper()
	const limit = raceBudget
	for i, s := range c.replicas {
		a := c.tts(s, textOf(fmt.Sprintf("probe%d:", i), limit+1), "eleven_multilingual_v2", "")
		if a.err != nil || a.status != http.StatusPaymentRequired {
			t.Fatalf("a request larger than the budget on replica %c: %d %v: %.300s", 'A'+i, a.status, a.err, a.body)
		}
		if rf := checkRefusal(t, "probe", a, limit, limit+1); rf.Used != admitted {
			t.Errorf("after the race replica %c counts %d characters used, want the %d admitted", 'A'+i, rf.Used, admitted)
		}
	}
	if rem := limit - admitted; rem > 0 {
		a := c.tts(c.replicas[0], textOf("", int(rem)), "eleven_multilingual_v2", "")
		if a.err != nil || a.status != http.StatusOK {
			t.Fatalf("the remaining %d characters in one request: %d %v: %.300s", rem, a.status, a.err, a.body)
		}
		if got := a.header.Get("X-Budget-Remaining-Characters"); got != "0" {
			t.Errorf("after spending the remainder, X-Budget-Remaining-Characters %q, want 0", got)
		}
	}
	last := c.replicas[len(c.replicas)-1]
	a := c.tts(last, "over", "eleven_multilingual_v2", "")
	if a.err != nil || a.status != http.StatusPaymentRequired {
		t.Fatalf("one request more than the budget: %d %v: %.300s", a.status, a.err, a.body)
	}
	if rf := checkRefusal(t, "over", a, limit, 4); rf.Used != limit {
		t.Errorf("the budget spent to the last character: 402 says used %d, want %d", rf.Used, limit)
	}
	if !strings.HasPrefix(c.db, "postgres") {
		return
	}
	// The store's counters: written at once without Redis, within a second or so with it.
	window, _ := budgets.Window(budgets.PeriodMonth, time.Now())
	deadline := time.Now().Add(5 * time.Second)
	for {
		used := pgInt(c.t, c.db, `SELECT COALESCE(SUM(used), 0) FROM budget_counters
			WHERE org_id = $1 AND service = 'elevenlabs' AND window_start = $2 AND unit = 'characters'`, c.orgID, window)
		if used == limit {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the store counts %d characters used, want %d", used, limit)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := pgInt(c.t, c.db, `SELECT COUNT(*) FROM budget_reservations WHERE org_id = $1`, c.orgID); n != 0 {
		t.Errorf("%d budget reservations left in the store after every request ended", n)
	}
}

// budgetLedgers are the ways replicas on PostgreSQL count budgets: Redis, and a Redis
// that never answers (they fail over to the store).
func budgetLedgers(t *testing.T, run func(t *testing.T, dsn, redisAddr string)) {
	proctest.Build(t) // once for every subtest
	t.Run("Redis", func(t *testing.T) {
		addr := testRedisAddr(t)
		run(t, pgtest.NewTestDatabase(t), addr)
	})
	t.Run("RedisUnreachableFailsOverToTheStore", func(t *testing.T) {
		dsn := pgtest.NewTestDatabase(t)
		run(t, dsn, "127.0.0.1:"+strconv.Itoa(outageFreePort(t)))
	})
}

func runBudgetRace(t *testing.T, dsn, redisAddr string, withBad bool) {
	c := newSharedCluster(t, dsn, clusterOptions{replicas: 2, budget: raceBudget, redisAddr: redisAddr})
	live := redisAddr == os.Getenv("AIPROXY_TEST_REDIS_ADDR")
	if live {
		forgetRedisBudgets(t, redisAddr, c.orgID)
	}
	c.checkBudgetRace(withBad)
	for _, s := range c.replicas {
		failedOver := strings.Contains(s.logs.String(), "reserving budgets in the store")
		if failedOver == live {
			t.Errorf("%s: failed over to the store: %v, with Redis %s", s.name, failedOver, map[bool]string{true: "answering", false: "unreachable"}[live])
		}
	}
}

// Two replicas, one budget, 64 clients at once: never a character over the budget, and
// never a request refused that would have fit.
func TestBudgetRaceAcrossReplicasAdmitsExactlyWhatFits(t *testing.T) {
	budgetLedgers(t, func(t *testing.T, dsn, redisAddr string) { runBudgetRace(t, dsn, redisAddr, false) })
}

// The same race with a third of the requests refused by the upstream: their units are
// given back, so that in the end the whole budget can be spent.
func TestBudgetRaceAcrossReplicasGivesBackUnitsTheUpstreamRefused(t *testing.T) {
	budgetLedgers(t, func(t *testing.T, dsn, redisAddr string) { runBudgetRace(t, dsn, redisAddr, true) })
}

// One process on SQLite, 64 clients at once: the store's own counters never overshoot.
func TestBudgetRaceOnSQLiteAdmitsExactlyWhatFits(t *testing.T) {
	for _, withBad := range []bool{false, true} {
		t.Run(map[bool]string{false: "UpstreamAccepts", true: "UpstreamRefusesSome"}[withBad], func(t *testing.T) {
			c := newSharedCluster(t, filepath.Join(t.TempDir(), "aiproxy.db"), clusterOptions{replicas: 1, budget: raceBudget})
			c.checkBudgetRace(withBad)
		})
	}
}

// ---- idempotency across replicas ----

const idemTrials = 20

// One Idempotency-Key sent at the same instant to two replicas: the upstream runs it once;
// one client gets the answer, the other 409 (in progress) or the same answer replayed.
// Sent again afterwards, to either replica, the key replays the answer.
func TestIdempotencyKeyAtTheSameInstantOnTwoReplicasRunsUpstreamOnce(t *testing.T) {
	addr := testRedisAddr(t)
	dsn := pgtest.NewTestDatabase(t)
	c := newSharedCluster(t, dsn, clusterOptions{replicas: 2, redisAddr: addr})
	forgetRedisBudgets(t, addr, c.orgID)

	type trial struct {
		key, text string
		answers   [2]answer
	}
	trials := make([]*trial, idemTrials)
	inProgress, replayed := 0, 0
	for i := range trials {
		tr := &trial{key: fmt.Sprintf("idem-%02d-%s", i, randomHex(6)), text: textOf(fmt.Sprintf("idem%02d:", i), 24+i)}
		trials[i] = tr
		// Half the trials hold the upstream call a while, so that the other replica
		// finds the key in progress; the rest answer at once (the other may replay).
		if i%2 == 0 {
			c.up.delay.Store(int64(150 * time.Millisecond))
		} else {
			c.up.delay.Store(0)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for k := range 2 {
			wg.Go(func() {
				<-start
				tr.answers[k] = c.tts(c.replicas[k], tr.text, "eleven_multilingual_v2", tr.key)
			})
		}
		close(start)
		wg.Wait()

		var fresh, other *answer
		for k := range tr.answers {
			a := &tr.answers[k]
			if a.err != nil {
				t.Fatalf("trial %d, replica %c: %v", i, 'A'+k, a.err)
			}
			if a.status == http.StatusOK && a.header.Get("Idempotent-Replayed") == "" && fresh == nil {
				fresh = a
			} else {
				other = a
			}
		}
		if fresh == nil {
			t.Errorf("trial %d: no replica ran the request: %d %s / %d %s", i,
				tr.answers[0].status, tr.answers[0].body, tr.answers[1].status, tr.answers[1].body)
			continue
		}
		switch {
		case other.status == http.StatusConflict && detailOf(other.body) == "A request with this Idempotency-Key is still in progress.":
			inProgress++
		case other.status == http.StatusOK && other.header.Get("Idempotent-Replayed") == "true":
			replayed++
			if !bytes.Equal(other.body, fresh.body) {
				t.Errorf("trial %d: the replayed answer (%d bytes) differs from the first (%d bytes)", i, len(other.body), len(fresh.body))
			}
		default:
			t.Errorf("trial %d: the second answer is %d (Idempotent-Replayed %q) %.300s; want 409 in progress or a replay",
				i, other.status, other.header.Get("Idempotent-Replayed"), other.body)
		}
	}
	c.up.delay.Store(0)

	// Each key once more, on the replica that did not run it the first time or the other:
	// the stored answer, without an upstream call.
	for i, tr := range trials {
		a := c.tts(c.replicas[i%2], tr.text, "eleven_multilingual_v2", tr.key)
		if a.err != nil || a.status != http.StatusOK || a.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("trial %d sent again: %d %v (Idempotent-Replayed %q) %.300s; want 200 replayed", i, a.status, a.err, a.header.Get("Idempotent-Replayed"), a.body)
		}
	}

	calls := map[string]int{}
	for _, call := range c.up.received() {
		calls[call.text]++
	}
	for i, tr := range trials {
		if n := calls[tr.text]; n != 1 {
			t.Errorf("trial %d (key %s): the upstream received %d calls, want exactly 1", i, tr.key, n)
		}
	}
	if len(calls) != idemTrials {
		t.Errorf("the upstream received %d distinct calls, want %d", len(calls), idemTrials)
	}
	t.Logf("%d keys each sent to both replicas at once: the upstream ran each once; the other client got 409 in progress %d times, a replay %d times",
		idemTrials, inProgress, replayed)
}

// TestRedisPrefixKeepsDeploymentsSharingARedisApart: two deployments with databases of
// their own (their orgs both have id 1) and one Redis. With a prefix each, each spends its
// own budget; with the same prefix they would share counters, which the first case proves
// the test could see.
func TestRedisPrefixKeepsDeploymentsSharingARedisApart(t *testing.T) {
	addr := testRedisAddr(t)
	run := func(t *testing.T, prefixA, prefixB string) (a, b answer) {
		t.Cleanup(func() {
			rc := redis.NewClient(&redis.Options{Addr: addr})
			defer rc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for _, p := range []string{prefixA, prefixB} {
				if keys, _ := rc.Keys(ctx, p+"*").Result(); len(keys) > 0 {
					rc.Del(ctx, keys...)
				}
			}
		})
		const budget = 30
		ca := newSharedCluster(t, filepath.Join(t.TempDir(), "a.db"), clusterOptions{replicas: 1, budget: budget, redisAddr: addr, redisKeys: prefixA})
		cb := newSharedCluster(t, filepath.Join(t.TempDir(), "b.db"), clusterOptions{replicas: 1, budget: budget, redisAddr: addr, redisKeys: prefixB})
		if r := ca.tts(ca.replicas[0], textOf("a", budget), "eleven_multilingual_v2", ""); r.status != 200 {
			t.Fatalf("deployment A spending its budget: %d %s", r.status, r.body)
		}
		return ca.tts(ca.replicas[0], textOf("a2", 2), "eleven_multilingual_v2", ""),
			cb.tts(cb.replicas[0], textOf("b", budget), "eleven_multilingual_v2", "")
	}
	tag := randomHex(4)
	t.Run("SamePrefixSharesCounters", func(t *testing.T) {
		p := "aiproxy-test-" + tag + "-same:"
		a, b := run(t, p, p)
		if a.status != 402 || b.status != 402 {
			t.Errorf("one prefix: A again %d, B %d; want both 402 (the counters are shared)", a.status, b.status)
		}
	})
	t.Run("OwnPrefixesKeepThemApart", func(t *testing.T) {
		a, b := run(t, "aiproxy-test-"+tag+"-a:", "aiproxy-test-"+tag+"-b:")
		if a.status != 402 || b.status != 200 {
			t.Errorf("own prefixes: A again %d (want 402), B %d %s (want 200: its own budget)", a.status, b.status, b.body)
		}
	})
}
