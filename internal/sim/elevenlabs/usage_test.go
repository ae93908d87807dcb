package elevenlabs

import (
	"archive/zip"
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/media"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

type characterStats struct {
	Time  []int64            `json:"time"`
	Usage map[string][]int64 `json:"usage"`
}

func TestCharacterStatsSumsTheKeysCredits(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	for _, text := range []string{"Hello there.", "Twelve chars"} {
		if r := call(t, ts, "POST", "/v1/text-to-speech/"+rachel, testKey, map[string]string{"text": text}); r.status != 200 {
			t.Fatalf("tts: %d %s", r.status, r.body)
		}
	}
	now := time.Now().UTC()
	dayStart := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	q := url.Values{"start_unix": {fmt.Sprint(dayStart.AddDate(0, 0, -2).UnixMilli() + 1234)}, "end_unix": {fmt.Sprint(now.Add(time.Hour).UnixMilli())}}
	var st characterStats
	r := call(t, ts, "GET", "/v1/usage/character-stats?"+q.Encode(), testKey, nil)
	r.json(t, &st)
	if r.status != 200 || len(st.Time) != 3 || len(st.Usage["All"]) != 3 {
		t.Fatalf("daily stats: %d %s", r.status, r.body)
	}
	if st.Time[0] != dayStart.AddDate(0, 0, -2).UnixMilli()+1234 || st.Time[2] != dayStart.UnixMilli() {
		t.Errorf("time axis %v: the first bucket starts at start_unix, the others at midnight", st.Time)
	}
	if got := st.Usage["All"]; got[0] != 0 || got[1] != 0 || got[2] != 24 {
		t.Errorf("credits %v, want the 24 characters spoken today", got)
	}
	q.Set("metric", "request_count")
	q.Set("aggregation_interval", "cumulative")
	call(t, ts, "GET", "/v1/usage/character-stats?"+q.Encode(), testKey, nil).json(t, &st)
	if len(st.Time) != 1 || st.Usage["All"][0] != 2 {
		t.Errorf("cumulative request count: %+v", st)
	}
	// Another key's usage is its own.
	call(t, ts, "GET", "/v1/usage/character-stats?"+q.Encode(), "sk_bob", nil).json(t, &st)
	if st.Usage["All"][0] != 0 {
		t.Errorf("another key's usage: %+v", st)
	}
	for _, bad := range []string{"start_unix=1", "start_unix=x&end_unix=2", "start_unix=5&end_unix=1",
		"start_unix=1&end_unix=2&metric=joy", "start_unix=1&end_unix=2&breakdown_type=user",
		"start_unix=0&end_unix=99999999999999&aggregation_interval=hour"} {
		if r := call(t, ts, "GET", "/v1/usage/character-stats?"+bad, testKey, nil); r.status != 422 {
			t.Errorf("%s: %d %s, want 422", bad, r.status, r.body)
		}
	}
	q = url.Values{"start_unix": {"0"}, "end_unix": {fmt.Sprint(now.UnixMilli())}, "breakdown_type": {"user"},
		"include_workspace_metrics": {"true"}, "aggregation_bucket_size": {fmt.Sprint(int64(now.Unix()) + 10)}}
	call(t, ts, "GET", "/v1/usage/character-stats?"+q.Encode(), testKey, nil).json(t, &st)
	if len(st.Time) != 1 || st.Usage["All"][0] != 24 {
		t.Errorf("one bucket of aggregation_bucket_size: %+v", st)
	}
}

func TestSingleUseTokensAreSingleUseAndExpire(t *testing.T) {
	s, ts := newTestServer(t, simcore.Options{Speed: 3600}) // 15 simulated minutes in 0.25 s
	var tok struct {
		Token string `json:"token"`
	}
	r := call(t, ts, "POST", "/v1/single-use-token/realtime_scribe", testKey, nil)
	r.json(t, &tok)
	if r.status != 200 || !strings.HasPrefix(tok.Token, "sutkn_") {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	if _, why := s.redeemSingleUseToken(tok.Token, "tts_websocket"); why != tokenWrongType {
		t.Errorf("wrong type: %q", why)
	}
	if key, why := s.redeemSingleUseToken(tok.Token, "realtime_scribe"); why != "" || key != testKey {
		t.Errorf("first use: %q %q", key, why)
	}
	if _, why := s.redeemSingleUseToken(tok.Token, "realtime_scribe"); why != tokenUsed {
		t.Errorf("second use: %q", why)
	}
	if _, why := s.redeemSingleUseToken("sutkn_nope", "realtime_scribe"); why != tokenUnknown {
		t.Errorf("unknown token: %q", why)
	}
	call(t, ts, "POST", "/v1/single-use-token/tts_websocket", testKey, nil).json(t, &tok)
	time.Sleep(300 * time.Millisecond)
	if _, why := s.redeemSingleUseToken(tok.Token, "tts_websocket"); why != tokenExpired {
		t.Errorf("after 15 minutes: %q", why)
	}
	r = call(t, ts, "POST", "/v1/single-use-token/admin", testKey, nil)
	if r.status != 422 || !strings.Contains(string(r.body), `"loc":["path","token_type"]`) {
		t.Errorf("bad token_type: %d %s", r.status, r.body)
	}
	wantDetail(t, call(t, ts, "POST", "/v1/single-use-token/tts_websocket", "", nil), 401, "needs_authorization")
}

func TestDownloadHistoryOneFileOrAZip(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	var ids []string
	for _, text := range []string{"First item.", "Second, longer item to speak."} {
		r := call(t, ts, "POST", "/v1/text-to-speech/"+rachel, testKey, map[string]string{"text": text})
		ids = append(ids, r.header.Get("history-item-id"))
	}
	r := call(t, ts, "POST", "/v1/history/download", testKey, map[string]any{"history_item_ids": ids[:1]})
	if r.status != 200 || r.header.Get("Content-Type") != "audio/mpeg" || !strings.Contains(r.header.Get("Content-Disposition"), ids[0]) {
		t.Fatalf("one item: %d %v", r.status, r.header)
	}
	if _, err := media.MP3Duration(r.body); err != nil {
		t.Errorf("one item is not an MP3: %v", err)
	}
	r = call(t, ts, "POST", "/v1/history/download", testKey, map[string]any{"history_item_ids": ids[:1], "output_format": "wav"})
	if r.header.Get("Content-Type") != "audio/wav" || !bytes.HasPrefix(r.body, []byte("RIFF")) || string(r.body[8:12]) != "WAVE" {
		t.Errorf("wav: %v %.12q", r.header, r.body)
	}
	r = call(t, ts, "POST", "/v1/history/download", testKey, map[string]any{"history_item_ids": append(ids, ids[0])})
	if r.status != 200 || r.header.Get("Content-Type") != "application/zip" {
		t.Fatalf("two items: %d %v", r.status, r.header)
	}
	zr, err := zip.NewReader(bytes.NewReader(r.body), int64(len(r.body)))
	if err != nil || len(zr.File) != 2 {
		t.Fatalf("zip: %v, %d files", err, len(zr.File))
	}
	for i, f := range zr.File {
		if !strings.HasSuffix(f.Name, ids[i]+".mp3") {
			t.Errorf("entry %q, want item %s", f.Name, ids[i])
		}
	}
	if r := call(t, ts, "POST", "/v1/history/download", testKey, map[string]any{}); r.status != 422 {
		t.Errorf("without ids: %d", r.status)
	}
	wantDetail(t, call(t, ts, "POST", "/v1/history/download", testKey, map[string]any{"history_item_ids": []string{}}), 400, "invalid_history_item_ids")
	wantDetail(t, call(t, ts, "POST", "/v1/history/download", "sk_bob", map[string]any{"history_item_ids": ids}), 400, "history_item_not_found")
}

func TestDubbingTranscriptFormats(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{Speed: 50})
	id := createDubbing(t, ts, "talk.mp3") // 4 s of media: 153 MP3 frames, 3.997 s
	wantDetail(t, call(t, ts, "GET", "/v1/dubbing/"+id+"/transcript/es", testKey, nil), 425, "dubbing_not_ready")
	waitStatus(t, func() reply { return call(t, ts, "GET", "/v1/dubbing/"+id, testKey, nil) })

	r := call(t, ts, "GET", "/v1/dubbing/"+id+"/transcript/es", testKey, nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") ||
		!strings.HasPrefix(string(r.body), "1\n00:00:00,000 --> 00:00:03,997\nSegment 1 in es.\n") {
		t.Errorf("srt: %d %v %q", r.status, r.header.Get("Content-Type"), r.body)
	}
	r = call(t, ts, "GET", "/v1/dubbing/"+id+"/transcript/source?format_type=webvtt", testKey, nil)
	if r.status != 200 || !strings.HasPrefix(string(r.body), "WEBVTT\n\n1\n00:00:00.000 --> 00:00:03.997\nSegment 1 in en.\n") {
		t.Errorf("webvtt: %d %q", r.status, r.body)
	}
	var js struct {
		Language   string                `json:"language"`
		Utterances []transcriptUtterance `json:"utterances"`
	}
	r = call(t, ts, "GET", "/v1/dubbing/"+id+"/transcript/es?format_type=json", testKey, nil)
	r.json(t, &js)
	if js.Language != "es" || len(js.Utterances) != 1 || js.Utterances[0].EndS != 3.997 || len(js.Utterances[0].Words) == 0 {
		t.Errorf("json: %s", r.body)
	}
	if r := call(t, ts, "GET", "/v1/dubbing/"+id+"/transcript/es?format_type=txt", testKey, nil); r.status != 422 {
		t.Errorf("format_type=txt: %d", r.status)
	}
	wantDetail(t, call(t, ts, "GET", "/v1/dubbing/"+id+"/transcript/fr", testKey, nil), 404, "language_not_found")
	wantDetail(t, call(t, ts, "GET", "/v1/dubbing/"+id+"/transcript/es", "sk_bob", nil), 404, "dubbing_not_found")
}

func TestListDubbingsIsTheKeys(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	a, b := createDubbing(t, ts, "one.mp3"), createDubbing(t, ts, "two.mp3")
	var page struct {
		Dubs       []dubbingView `json:"dubs"`
		NextCursor *string       `json:"next_cursor"`
		HasMore    bool          `json:"has_more"`
	}
	call(t, ts, "GET", "/v1/dubbing?page_size=1", testKey, nil).json(t, &page)
	if len(page.Dubs) != 1 || page.Dubs[0].DubbingID != b || !page.HasMore || page.NextCursor == nil {
		t.Fatalf("first page: %+v", page)
	}
	call(t, ts, "GET", "/v1/dubbing?page_size=1&cursor="+*page.NextCursor, testKey, nil).json(t, &page)
	if len(page.Dubs) != 1 || page.Dubs[0].DubbingID != a || page.HasMore {
		t.Errorf("second page: %+v", page)
	}
	call(t, ts, "GET", "/v1/dubbing", "sk_bob", nil).json(t, &page)
	if len(page.Dubs) != 0 {
		t.Errorf("another key lists %+v", page.Dubs)
	}
}
