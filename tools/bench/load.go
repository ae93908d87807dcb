package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	// vegeta is the field's standard Go load generator: it drives an open-loop constant
	// rate (new requests keep coming however slow the server is, so queueing shows up in
	// the latencies instead of being hidden by coordinated omission), a closed loop (rate
	// 0 with a fixed worker count), and it is a library, so the generator lives in this
	// process and every target gets byte-identical load.
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// action is one catalog action the load runs exercise.
type action struct {
	Slug      string // the ElevenLabs action
	Label     string
	Method    string
	Path      string // the upstream path
	WantBytes int64  // the whole body, checked once per target before the load
	Rates     []int  // open-loop rates, requests/s
	// Query is sent with every request (the upstream's tts reads ?size): in the envelope to
	// aiproxy, on the URL to the others.
	Query map[string]string
}

// target is one way of reaching the upstream: directly, or through a proxy.
type target struct {
	Name   string // direct, floor, nginx, aiproxy
	Base   string // http://host:port
	PID    int    // the server's process, for RSS; 0 for none
	client *http.Client
	// request builds the HTTP request for an action.
	request func(a action) vegeta.Target
}

// scenario is one load shape.
type scenario struct {
	Kind     string // "open" (constant rate) or "closed" (fixed concurrency)
	Rate     int
	Conc     int
	Duration time.Duration
}

func (s scenario) String() string {
	if s.Kind == "open" {
		return fmt.Sprintf("%d rps", s.Rate)
	}
	return fmt.Sprintf("c=%d", s.Conc)
}

func newLoadClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        10000,
			MaxIdleConnsPerHost: 10000,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// upstreamRequest is how clients call the upstream and the plain proxies: the upstream's
// own paths; key is the provider key for the direct target, "" for the proxies.
func upstreamRequest(base, key string) func(action) vegeta.Target {
	return func(a action) vegeta.Target {
		h := http.Header{}
		if key != "" {
			h.Set("xi-api-key", key)
		}
		t := vegeta.Target{Method: a.Method, URL: base + a.Path, Header: h}
		if len(a.Query) > 0 {
			q := url.Values{}
			for k, v := range a.Query {
				q.Set(k, v)
			}
			t.URL += "?" + q.Encode()
		}
		if a.Method == http.MethodPost {
			h.Set("Content-Type", "application/json")
			t.Body = []byte(ttsBody)
		}
		return t
	}
}

// invokeRequest is how clients call aiproxy: the invoke envelope (contract §4).
func invokeRequest(base, apiKey string) func(action) vegeta.Target {
	return func(a action) vegeta.Target {
		env := map[string]any{}
		if a.Method == http.MethodPost {
			env["body"] = json.RawMessage(ttsBody)
			env["path_params"] = map[string]string{"voice_id": benchVoiceID}
		}
		if len(a.Query) > 0 {
			env["query"] = a.Query
		}
		body, _ := json.Marshal(env)
		h := http.Header{}
		h.Set("Authorization", "Api-Key "+apiKey)
		h.Set("Content-Type", "application/json")
		return vegeta.Target{Method: http.MethodPost, URL: invokeURL(base, "elevenlabs", a.Slug), Header: h, Body: body}
	}
}

func invokeURL(base, service, action string) string {
	return fmt.Sprintf("%s/api/ai-proxy/orgs/%s/services/%s/%s/", base, benchOrg, service, action)
}

// check sends one request and verifies the answer is whole: status 200 and every byte.
func (t *target) check(ctx context.Context, a action) error {
	_, err := t.fetch(ctx, a)
	return err
}

// fetch is check that also returns the answer's header.
func (t *target) fetch(ctx context.Context, a action) (http.Header, error) {
	vt := t.request(a)
	req, err := vt.Request()
	if err != nil {
		return nil, err
	}
	resp, err := t.client.Do(req.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading body: %w", t.Name, a.Slug, err)
	}
	if resp.StatusCode != http.StatusOK || n != a.WantBytes {
		return nil, fmt.Errorf("%s %s: status %d, %d bytes; want 200, %d bytes", t.Name, a.Slug, resp.StatusCode, n, a.WantBytes)
	}
	return resp.Header, nil
}

// attack runs one scenario against one target and returns what each request did.
func (t *target) attack(ctx context.Context, a action, s scenario) []sample {
	opts := []func(*vegeta.Attacker){
		vegeta.Client(t.client),
		vegeta.MaxBody(0), // read every body to the end, keep none of it
	}
	pacer := vegeta.ConstantPacer{Freq: s.Rate, Per: time.Second}
	if s.Kind == "closed" {
		// Rate 0 with a fixed pool: each worker sends its next request when the last one
		// is answered.
		pacer = vegeta.ConstantPacer{}
		opts = append(opts, vegeta.Workers(uint64(s.Conc)), vegeta.MaxWorkers(uint64(s.Conc)))
	} else {
		// Enough workers that the generator keeps the rate while latencies grow; the cap
		// keeps an overloaded target from taking every file descriptor.
		opts = append(opts, vegeta.Workers(32), vegeta.MaxWorkers(2000))
	}
	atk := vegeta.NewAttacker(opts...)
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	var out []sample
	for r := range atk.Attack(vegeta.NewStaticTargeter(t.request(a)), pacer, s.Duration, t.Name) {
		out = append(out, sample{
			Start:   r.Timestamp,
			Latency: r.Latency,
			OK:      r.Error == "" && r.Code >= 200 && r.Code < 300,
			Err:     shortError(r),
		})
	}
	return out
}

func shortError(r *vegeta.Result) string {
	if r.Error == "" && r.Code >= 200 && r.Code < 300 {
		return ""
	}
	e := r.Error
	if e == "" {
		e = fmt.Sprintf("status %d", r.Code)
	}
	// Drop the per-request parts (addresses, ports) so equal failures count together.
	if i := strings.LastIndex(e, ": "); i >= 0 && strings.Contains(e[:i], "127.0.0.1") {
		e = e[i+2:]
	}
	return e
}
