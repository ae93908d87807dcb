package gateway

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy/internal/membudget"
)

// A json-mode answer reserves the deployment's memory budget as it is read: one that would
// pass it fails with membudget.ErrExhausted as is (503), and whatever was reserved is
// released when the invoke ends, failed or not.
func TestJSONAnswerReservesTheBudget(t *testing.T) {
	big := `{"data": "` + strings.Repeat("x", 200<<10) + `"}`
	small := `{"data": "` + strings.Repeat("x", 10<<10) + `"}`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(big))
	}))
	defer up.Close()
	budget := membudget.New(128 << 10)
	g := modesGateway(t, up.URL, Config{Budget: budget})
	svc := modesCatalog(t)

	iv := invokeMode(t, g, svc, "json", hexKey)
	if !errors.Is(iv.err, membudget.ErrExhausted) || iv.err != error(membudget.ErrExhausted) {
		t.Fatalf("a 200 KiB answer under a 128 KiB budget: %v, want membudget.ErrExhausted as is", iv.err)
	}
	if iv.res.Status != 0 || iv.rec.Body.Len() != 0 {
		t.Errorf("the client got status %d and %d bytes", iv.res.Status, iv.rec.Body.Len())
	}
	if used := budget.Used(); used != 0 {
		t.Errorf("%d bytes still reserved after a failed invoke", used)
	}

	// Streams hold no answer: they do not draw on the budget.
	if iv := invokeMode(t, g, svc, "passthrough", hexKey); iv.err != nil {
		t.Errorf("passthrough: %v", iv.err)
	}

	// What others hold counts: with most of the budget taken, even a small answer fails;
	// once it is released, the same answer passes.
	if err := budget.Reserve(120 << 10); err != nil {
		t.Fatal(err)
	}
	upSmall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(small))
	}))
	defer upSmall.Close()
	g2 := modesGateway(t, upSmall.URL, Config{Budget: budget})
	if iv := invokeMode(t, g2, svc, "json", hexKey); iv.err != error(membudget.ErrExhausted) {
		t.Errorf("a 10 KiB answer with 8 KiB of the budget left: %v", iv.err)
	}
	budget.Release(120 << 10)
	if iv := invokeMode(t, g2, svc, "json", hexKey); iv.err != nil || iv.rec.Body.String() != small {
		t.Errorf("a 10 KiB answer with the budget free: %v", iv.err)
	}
	if used := budget.Used(); used != 0 {
		t.Errorf("%d bytes still reserved after the invokes", used)
	}
}
