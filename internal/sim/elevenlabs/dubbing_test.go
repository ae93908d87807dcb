package elevenlabs

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/media"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

type dubbingStatus struct {
	DubbingID       string   `json:"dubbing_id"`
	Status          string   `json:"status"`
	TargetLanguages []string `json:"target_languages"`
	Error           *string  `json:"error"`
}

func createDubbing(t *testing.T, ts *httptest.Server, fileName string) string {
	t.Helper()
	r := call(t, ts, "POST", "/v1/dubbing", testKey, multipartFormFor(t, fileName))
	var v struct {
		DubbingID           string  `json:"dubbing_id"`
		ExpectedDurationSec float64 `json:"expected_duration_sec"`
	}
	r.json(t, &v)
	if r.status != 200 || v.DubbingID == "" || v.ExpectedDurationSec <= 0 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	return v.DubbingID
}

func multipartFormFor(t *testing.T, fileName string) *multipartBody {
	return multipartForm(t,
		part{field: "file", fileName: fileName, contentType: "audio/mpeg", data: media.MP3(4)},
		part{field: "target_lang", data: []byte("es")},
	)
}

// waitStatus polls the dubbing until it leaves "dubbing".
func waitStatus(t *testing.T, get func() reply) dubbingStatus {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		var st dubbingStatus
		get().json(t, &st)
		if st.Status != "dubbing" || time.Now().After(deadline) {
			return st
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDubbingIsNotReadyThenDubbedThenServesAudio(t *testing.T) {
	// Speed 50: the 5.2 simulated seconds take about 100 ms.
	_, ts := newTestServer(t, simcore.Options{Speed: 50})
	id := createDubbing(t, ts, "talk.mp3")

	var st dubbingStatus
	call(t, ts, "GET", "/v1/dubbing/"+id, testKey, nil).json(t, &st)
	if st.Status != "dubbing" || len(st.TargetLanguages) != 1 || st.TargetLanguages[0] != "es" {
		t.Fatalf("right after creation: %+v", st)
	}
	wantDetail(t, call(t, ts, "GET", "/v1/dubbing/"+id+"/audio/es", testKey, nil), 425, "dubbing_not_ready")

	st = waitStatus(t, func() reply { return call(t, ts, "GET", "/v1/dubbing/"+id, testKey, nil) })
	if st.Status != "dubbed" || st.Error != nil {
		t.Fatalf("final status %+v", st)
	}
	r := call(t, ts, "GET", "/v1/dubbing/"+id+"/audio/es", testKey, nil)
	if r.status != 200 || r.header.Get("Content-Type") != "audio/mpeg" {
		t.Fatalf("audio: %d %s", r.status, r.body)
	}
	if d, err := media.MP3Duration(r.body); err != nil || d < 3.9 || d > 4.1 {
		t.Errorf("dubbed audio lasts %v (%v), want the source's 4 s", d, err)
	}
	wantDetail(t, call(t, ts, "GET", "/v1/dubbing/"+id+"/audio/fr", testKey, nil), 404, "language_not_found")

	// Another key cannot see it; the owner can delete it once.
	wantDetail(t, call(t, ts, "GET", "/v1/dubbing/"+id, "sk_bob", nil), 404, "dubbing_not_found")
	if r := call(t, ts, "DELETE", "/v1/dubbing/"+id, testKey, nil); r.status != 200 {
		t.Fatalf("delete: %d", r.status)
	}
	wantDetail(t, call(t, ts, "GET", "/v1/dubbing/"+id, testKey, nil), 404, "dubbing_not_found")
	wantDetail(t, call(t, ts, "DELETE", "/v1/dubbing/"+id, testKey, nil), 404, "dubbing_not_found")
}

func TestDubbingOfAFileNamedFailEndsFailed(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	id := createDubbing(t, ts, "will-FAIL.mp3")
	st := waitStatus(t, func() reply { return call(t, ts, "GET", "/v1/dubbing/"+id, testKey, nil) })
	if st.Status != "failed" || st.Error == nil || *st.Error == "" {
		t.Fatalf("status %+v", st)
	}
	wantDetail(t, call(t, ts, "GET", "/v1/dubbing/"+id+"/audio/es", testKey, nil), 425, "dubbing_failed")
}

func TestCreateDubbingValidation(t *testing.T) {
	_, ts := newTestServer(t, simcore.Options{})
	r := call(t, ts, "POST", "/v1/dubbing", testKey, multipartForm(t, part{field: "name", data: []byte("x")}))
	if r.status != 422 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	wantDetail(t, call(t, ts, "POST", "/v1/dubbing", "exhausted_key", multipartFormFor(t, "a.mp3")), 401, "quota_exceeded")
	wantDetail(t, call(t, ts, "GET", "/v1/dubbing/nope/audio/es", testKey, nil), 404, "dubbing_not_found")
}
