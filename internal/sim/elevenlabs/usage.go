package elevenlabs

import (
	"net/http"
	"slices"
	"strconv"
	"time"
)

// usageEvent is one charge of an account's credits (charge records it).
type usageEvent struct {
	at      time.Time
	credits int
}

// maxUsageBuckets bounds the time axis of one character-stats answer.
const maxUsageBuckets = 10000

// getCharacterStats serves GET /v1/usage/character-stats [EL-oas, EL-js]: the key's usage
// between start_unix and end_unix (Unix milliseconds, both required) on a time axis whose
// buckets are aggregation_interval long (hour, day (the default), week, month or
// cumulative) or aggregation_bucket_size seconds: {"time": [bucket starts in ms], "usage":
// {series: [one value per bucket]}}. The first bucket starts at start_unix, the others on
// the interval's UTC boundaries (as the SDK's example answer shows: its first time is not
// midnight, its second is).
// GAP: the simulator meters credits only: metric credits (the default) sums the credits
// charged, request_count counts the billable calls, and every other metric is zero; every
// breakdown_type answers one series, "All" (breakdown_type user, api_keys and all_api_keys
// need include_workspace_metrics=true, else 422); an end before the start, or more than
// 10,000 buckets, is 422 (docs/simulators.md §22).
func (s *Server) getCharacterStats(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var errs []fieldError
	bound := func(name string) int64 {
		raw := q.Get(name)
		if raw == "" {
			errs = append(errs, missing("query", name))
			return 0
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			errs = append(errs, fieldError{Loc: []any{"query", name}, Msg: "Input should be a valid integer, unable to parse string as an integer", Type: "int_parsing"})
		}
		return n
	}
	startMS, endMS := bound("start_unix"), bound("end_unix")
	workspace, ferr := boolParam(q.Get("include_workspace_metrics"), "include_workspace_metrics", false)
	if ferr != nil {
		errs = append(errs, *ferr)
	}
	breakdowns := []string{"none", "voice", "voice_multiplier", "user", "groups", "api_keys", "all_api_keys", "product_type",
		"model", "resource", "request_queue", "region", "subresource_id", "reporting_workspace_id", "has_api_key", "request_source"}
	if e := enumParam(q, "breakdown_type", breakdowns...); e != nil {
		errs = append(errs, *e)
	}
	if e := enumParam(q, "aggregation_interval", "hour", "day", "week", "month", "cumulative"); e != nil {
		errs = append(errs, *e)
	}
	metrics := []string{"credits", "tts_characters", "minutes_used", "request_count", "ttfb_avg", "ttfb_p95", "fiat_units_spent", "concurrency", "concurrency_average"}
	if e := enumParam(q, "metric", metrics...); e != nil {
		errs = append(errs, *e)
	}
	bucketSize, ferr := intParam(q.Get("aggregation_bucket_size"), "aggregation_bucket_size", 0, 1, 1<<31-1)
	if ferr != nil {
		errs = append(errs, *ferr)
	}
	if errs == nil {
		switch bt := q.Get("breakdown_type"); {
		case !workspace && (bt == "user" || bt == "api_keys" || bt == "all_api_keys"):
			errs = append(errs, fieldError{Loc: []any{"query", "breakdown_type"}, Msg: "Value error, breakdown_type " + bt + " needs include_workspace_metrics", Type: "value_error"})
		case endMS < startMS:
			errs = append(errs, fieldError{Loc: []any{"query", "end_unix"}, Msg: "Value error, end_unix must not be before start_unix", Type: "value_error"})
		}
	}
	if errs != nil {
		writeValidation(w, errs...)
		return
	}
	start, end := time.UnixMilli(startMS).UTC(), time.UnixMilli(endMS).UTC()
	interval := q.Get("aggregation_interval")
	if interval == "" {
		interval = "day"
	}
	var starts []time.Time
	for t := start; !t.After(end); t = nextBucket(t, interval, bucketSize) {
		starts = append(starts, t)
		if len(starts) > maxUsageBuckets {
			writeValidation(w, fieldError{Loc: []any{"query", "aggregation_interval"}, Msg: "Value error, the window holds more than " + strconv.Itoa(maxUsageBuckets) + " buckets", Type: "value_error"})
			return
		}
		if interval == "cumulative" && bucketSize == 0 {
			break
		}
	}
	a := s.accountOf(r)
	a.mu.Lock()
	events := slices.Clone(a.usage)
	a.mu.Unlock()
	times := make([]int64, len(starts))
	values := make([]int64, len(starts))
	metric := q.Get("metric")
	for i, t := range starts {
		times[i] = t.UnixMilli()
		until := end.Add(time.Millisecond)
		if i+1 < len(starts) {
			until = starts[i+1]
		}
		for _, e := range events {
			if e.at.Before(t) || !e.at.Before(until) {
				continue
			}
			switch metric {
			case "", "credits":
				values[i] += int64(e.credits)
			case "request_count":
				values[i]++
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"time": times, "usage": map[string][]int64{"All": values}})
}

// nextBucket is the start of the bucket after the one t is in.
func nextBucket(t time.Time, interval string, size int) time.Time {
	if size > 0 {
		return t.Add(time.Duration(size) * time.Second)
	}
	y, m, d := t.Date()
	switch interval {
	case "hour":
		return t.Truncate(time.Hour).Add(time.Hour)
	case "week": // weeks start on Monday
		day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		return day.AddDate(0, 0, 7-(int(day.Weekday())+6)%7)
	case "month":
		return time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
	case "cumulative":
		return t.Add(time.Duration(1<<62 - 1))
	}
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// Single-use tokens [EL-js]: POST /v1/single-use-token/{token_type} answers {"token"},
// a token that lets a browser reach one realtime API without the account's key. It expires
// 15 minutes after it is made and is consumed on first use.

// singleUseTokenTypes are the token types the simulator issues.
var singleUseTokenTypes = []string{"realtime_scribe", "tts_websocket"}

// singleUseTokenLifetime is how long (simulated) a token stays valid.
const singleUseTokenLifetime = 15 * time.Minute

// singleUseToken is one issued token.
type singleUseToken struct {
	key     string // the account that issued it
	typ     string
	created time.Time
	used    bool
}

// createSingleUseToken serves POST /v1/single-use-token/{token_type}.
// GAP: the token's form is not documented beyond the example "sutkn_1234567890"; the
// simulator makes "sutkn_" and 32 letters and digits (docs/simulators.md §22).
func (s *Server) createSingleUseToken(w http.ResponseWriter, r *http.Request) {
	typ := r.PathValue("token_type")
	if !slices.Contains(singleUseTokenTypes, typ) {
		writeValidation(w, fieldError{Loc: []any{"path", "token_type"}, Msg: "Input should be " + quoteOr(singleUseTokenTypes), Type: "enum"})
		return
	}
	a := s.accountOf(r)
	token := "sutkn_" + a.rand.Alnum(32)
	s.mu.Lock()
	if s.tokens == nil {
		s.tokens = map[string]*singleUseToken{}
	}
	for t, st := range s.tokens { // forget expired tokens, so the map stays small
		if s.clock.Elapsed(st.created) >= singleUseTokenLifetime {
			delete(s.tokens, t)
		}
	}
	s.tokens[token] = &singleUseToken{key: a.key, typ: typ, created: s.clock.Now()}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"token": token})
}

// tokenRefusal says why redeemSingleUseToken refused a token.
type tokenRefusal string

const (
	tokenUnknown   tokenRefusal = "unknown"    // never issued, or forgotten after it expired
	tokenWrongType tokenRefusal = "wrong_type" // issued for another API
	tokenExpired   tokenRefusal = "expired"
	tokenUsed      tokenRefusal = "used"
)

// redeemSingleUseToken consumes a token issued for typ and returns the key of the account
// that issued it, which the realtime API then serves and bills. It refuses a token that is
// unknown, of another type, expired or already used; a refused token is not consumed.
func (s *Server) redeemSingleUseToken(token, typ string) (key string, refusal tokenRefusal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.tokens[token]
	switch {
	case !ok:
		return "", tokenUnknown
	case st.typ != typ:
		return "", tokenWrongType
	case s.clock.Elapsed(st.created) >= singleUseTokenLifetime:
		return "", tokenExpired
	case st.used:
		return "", tokenUsed
	}
	st.used = true
	return st.key, ""
}
