package httpapi

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// Result URLs expire: providers hand out signed links (HeyGen's video_url lasts days) and
// sign new ones on each status read. A completed job read after a link in its result expired
// (or will within refreshMargin) is read from the provider again first, so that the view
// holds links that work (docs/jobs.md). The expiry is the link's own: its Expires parameter
// (CloudFront, S3 v2), X-Amz-Date + X-Amz-Expires (S3 v4) or X-Goog-Date + X-Goog-Expires
// (Google Cloud Storage). One job is refreshed at most once per refreshEvery per process,
// so a provider whose links stay expired costs one status read per interval, not one per read.

const (
	refreshMargin = time.Minute
	refreshEvery  = 30 * time.Second
)

type resultRefresher struct {
	mu   sync.Mutex
	last map[int64]time.Time
}

// resultExpiry returns the earliest expiry of a link in result (JSON), if any has one.
func resultExpiry(result string) (time.Time, bool) {
	if result == "" {
		return time.Time{}, false
	}
	var v any
	if json.Unmarshal([]byte(result), &v) != nil {
		return time.Time{}, false
	}
	var first time.Time
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			if t, ok := linkExpiry(x); ok && (first.IsZero() || t.Before(first)) {
				first = t
			}
		}
	}
	walk(v)
	return first, !first.IsZero()
}

// linkExpiry reads the expiry a signed URL carries.
func linkExpiry(s string) (time.Time, bool) {
	if len(s) < 8 || (s[:7] != "http://" && s[:8] != "https://") {
		return time.Time{}, false
	}
	u, err := url.Parse(s)
	if err != nil || u.RawQuery == "" {
		return time.Time{}, false
	}
	q := u.Query()
	if e := q.Get("Expires"); e != "" {
		if n, err := strconv.ParseInt(e, 10, 64); err == nil {
			return time.Unix(n, 0), true
		}
	}
	for _, p := range [][2]string{{"X-Amz-Date", "X-Amz-Expires"}, {"X-Goog-Date", "X-Goog-Expires"}} {
		d, e := q.Get(p[0]), q.Get(p[1])
		if d == "" || e == "" {
			continue
		}
		at, err1 := time.Parse("20060102T150405Z", d)
		secs, err2 := strconv.ParseInt(e, 10, 64)
		if err1 == nil && err2 == nil {
			return at.Add(time.Duration(secs) * time.Second), true
		}
	}
	return time.Time{}, false
}

// refreshResult reads a completed job whose result links have expired from the provider
// again, as the org, and returns the job as recorded then (j itself when nothing was done).
func (s *Server) refreshResult(ctx context.Context, actor tenancy.Actor, org *aiproxy.Org, j *aiproxy.Job) *aiproxy.Job {
	if j.Status != aiproxy.JobCompleted {
		return j
	}
	exp, ok := resultExpiry(j.Result)
	if !ok || time.Until(exp) > refreshMargin {
		return j
	}
	rf := &s.refresher
	rf.mu.Lock()
	if rf.last == nil {
		rf.last = map[int64]time.Time{}
	}
	if t, ok := rf.last[j.ID]; ok && time.Since(t) < refreshEvery {
		rf.mu.Unlock()
		return j
	}
	for id, t := range rf.last { // keep the map small
		if time.Since(t) >= refreshEvery {
			delete(rf.last, id)
		}
	}
	rf.last[j.ID] = time.Now()
	rf.mu.Unlock()
	p, err := s.tenancy.PollJob(ctx, actor, org, j)
	if err != nil || p == nil {
		return j
	}
	if _, err := s.pollJob(ctx, p, actor, org, requestID(ctx)); err != nil {
		s.logger.Warn("refreshing a job's expired result failed", "job_id", j.ID, "error", err.Error())
		return j
	}
	if cur, err := s.tenancy.Job(ctx, actor, org, j.ID); err == nil {
		return cur
	}
	return j
}
