package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

// TestJobEventStreamsAreTakenOverWithTheirHeadersAndEndWhenTheClientLeaves: an HTTP/1.1
// stream on a job in progress is handed to the job's poller (it no longer holds a handler):
// its head carries the event-stream type and the request id, its first event comes at once,
// and once its client closes the connection the stream, and the poller, are gone within
// about a tick.
func TestJobEventStreamsAreTakenOverWithTheirHeadersAndEndWhenTheClientLeaves(t *testing.T) {
	const interval = 50 * time.Millisecond
	e := waitEnv(t, 0.1, interval) // a test video: 20 s
	vid, _ := e.makeVideo(e.memberA, "org-a", "Hello from org A.")
	j := e.jobOf("heygen", vid)
	var closers []func()
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s%s/orgs/org-a/jobs/%d/events/", e.srv.URL, admAPI, j.ID), nil)
		req.Header.Set("Authorization", "Api-Key "+e.memberA)
		req.Header.Set("X-Request-Id", fmt.Sprintf("stream-%d", i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		closers = append(closers, func() { resp.Body.Close() })
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" ||
			resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("X-Request-Id") != fmt.Sprintf("stream-%d", i) {
			t.Fatalf("stream %d: %d %v", i, resp.StatusCode, resp.Header)
		}
		br := bufio.NewReader(resp.Body)
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "id: ") {
			t.Fatalf("stream %d: first line %q, %v", i, line, err)
		}
	}
	simtest.WaitFor(t, "three taken-over streams", 2*time.Second, 10*time.Millisecond, func() bool { return e.api.OpenStreams() == 3 })
	for _, c := range closers {
		c()
	}
	simtest.WaitFor(t, "the streams to be noticed gone", 3*time.Second, 10*time.Millisecond, func() bool {
		return e.api.OpenStreams() == 0 && e.api.JobPollers() == 0
	})
}

// TestJobEventStreamOfAJobThatEndsGetsDoneFromThePoller: a taken-over stream gets the job's
// changes and done from the poller, and the connection then ends.
func TestJobEventStreamOfAJobThatEndsGetsDoneFromThePoller(t *testing.T) {
	e := waitEnv(t, 5, 50*time.Millisecond) // a test video: 0.4 s
	vid, _ := e.makeVideo(e.memberA, "org-a", "Hello from org A.")
	j := e.jobOf("heygen", vid)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := e.jobEvents(ctx, e.memberA, "org-a", j.ID)
	if err != nil || !s.ended {
		t.Fatalf("stream: %v, ended %v, events %+v", err, s.ended, s.events)
	}
	last := s.events[len(s.events)-1]
	if last.event != "done" || !strings.Contains(last.data, `"status":"completed"`) {
		t.Fatalf("last event %+v, want done with the completed view", last)
	}
	if e.api.OpenStreams() != 0 {
		t.Errorf("%d streams still open after done", e.api.OpenStreams())
	}
}

// TestJobEventStreamsPerKeyAreCapped: a key holding the most streams allowed is refused
// another with 429 before any stream starts; another key is not; one closing frees a place.
func TestJobEventStreamsPerKeyAreCapped(t *testing.T) {
	e := waitEnv(t, 0.1, 50*time.Millisecond) // a test video: 20 s
	e.api.SetMaxStreamsPerKey(2)
	vid, _ := e.makeVideo(e.memberA, "org-a", "Hello from org A.")
	j := e.jobOf("heygen", vid)
	open := func(key string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s%s/orgs/org-a/jobs/%d/events/", e.srv.URL, admAPI, j.ID), nil)
		req.Header.Set("Authorization", "Api-Key "+key)
		return http.DefaultClient.Do(req)
	}
	var held []*http.Response
	for i := 0; i < 2; i++ {
		resp, err := open(e.memberA)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("stream %d: %v %v", i, resp, err)
		}
		held = append(held, resp)
	}
	resp, err := open(e.memberA)
	if err != nil {
		t.Fatal(err)
	}
	body := new(strings.Builder)
	bufio.NewReader(resp.Body).WriteTo(body)
	resp.Body.Close()
	if resp.StatusCode != 429 || !strings.Contains(body.String(), "2 event streams open") {
		t.Fatalf("a third stream: %d %s, want 429", resp.StatusCode, body)
	}
	other, err := open(e.adminA)
	if err != nil || other.StatusCode != 200 {
		t.Fatalf("another key's stream: %v %v", other, err)
	}
	other.Body.Close()
	held[0].Body.Close()
	simtest.WaitFor(t, "a place to free up", 3*time.Second, 20*time.Millisecond, func() bool {
		resp, err := open(e.memberA)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	held[1].Body.Close()
}
