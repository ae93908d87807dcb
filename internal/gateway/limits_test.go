package gateway

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
)

const (
	partLimitMessage  = "Multipart text part '%s' is larger than the limit of 1048576 bytes."
	partsLimitMessage = "Multipart text parts are larger than the limit of 8388608 bytes in all."
)

// Every kind of text part is bounded before the first file: nothing reaches the upstream.
func TestMultipartTextPartAboveItsLimitBeforeTheFirstFileIs413(t *testing.T) {
	svc := hiCatalog(t)
	for _, name := range []string{"description", "body", "query", "headers", "path_params"} {
		t.Run(name, func(t *testing.T) {
			up := newHiUpstream(t)
			g := hiGateway(t, up, Config{})
			body, ct := hiMultipart(t,
				[4]string{name, "", "", strings.Repeat("a", 1<<20+1)},
				[4]string{"file", "a.bin", "application/octet-stream", "data"})
			_, err := hiInvoke(t, g, svc, "upload", body, ct)
			hiWantError(t, err, aiproxy.ETOOLARGE, fmt.Sprintf(partLimitMessage, name))
			up.notCalled(t)
		})
	}
	// Exactly at the limit passes, whole.
	up := newHiUpstream(t)
	g := hiGateway(t, up, Config{})
	text := strings.Repeat("b", 1<<20)
	body, ct := hiMultipart(t, [4]string{"description", "", "", text}, [4]string{"file", "a.bin", "", "data"})
	if _, err := hiInvoke(t, g, svc, "upload", body, ct); err != nil {
		t.Fatal(err)
	}
	got := up.settle(t)
	if len(got) != 1 || !got[0].complete || got[0].parts[0].name != "description" || got[0].parts[0].n != 1<<20 {
		t.Fatalf("a text part of exactly the limit did not arrive whole: %+v", got)
	}
}

// A text part after the first file used to be cut at 1 MiB without a word: it is a 413, and
// the upstream request, already under way, is aborted before it is complete.
func TestMultipartTextPartAboveItsLimitAfterTheFirstFileIs413AndAbortsTheUpstream(t *testing.T) {
	svc := hiCatalog(t)
	for _, action := range []string{"upload", "binary"} {
		for _, name := range []string{"description", "body"} {
			t.Run(action+"/"+name, func(t *testing.T) {
				up := newHiUpstream(t)
				g := hiGateway(t, up, Config{})
				body, ct := hiMultipart(t,
					[4]string{"file", "a.bin", "application/octet-stream", strings.Repeat("f", 64<<10)},
					[4]string{name, "", "", `{"k": "` + strings.Repeat("a", 1<<20) + `"}`})
				_, err := hiInvoke(t, g, svc, action, body, ct)
				hiWantError(t, err, aiproxy.ETOOLARGE, fmt.Sprintf(partLimitMessage, name))
				up.noneComplete(t)
			})
		}
	}
}

func TestMultipartTextPartsAboveTheirTotalLimitAre413(t *testing.T) {
	svc := hiCatalog(t)
	part := strings.Repeat("t", 1_000_000)
	t.Run("before the first file", func(t *testing.T) {
		up := newHiUpstream(t)
		g := hiGateway(t, up, Config{})
		var parts [][4]string
		for i := range 9 {
			parts = append(parts, [4]string{fmt.Sprintf("field%d", i), "", "", part})
		}
		parts = append(parts, [4]string{"file", "a.bin", "", "x"})
		body, ct := hiMultipart(t, parts...)
		_, err := hiInvoke(t, g, svc, "upload", body, ct)
		hiWantError(t, err, aiproxy.ETOOLARGE, partsLimitMessage)
		up.notCalled(t)
	})
	t.Run("across the first file", func(t *testing.T) {
		up := newHiUpstream(t)
		g := hiGateway(t, up, Config{})
		var parts [][4]string
		for i := range 5 {
			parts = append(parts, [4]string{fmt.Sprintf("before%d", i), "", "", part})
		}
		parts = append(parts, [4]string{"file", "a.bin", "", "x"})
		for i := range 5 {
			parts = append(parts, [4]string{fmt.Sprintf("after%d", i), "", "", part})
		}
		body, ct := hiMultipart(t, parts...)
		_, err := hiInvoke(t, g, svc, "upload", body, ct)
		hiWantError(t, err, aiproxy.ETOOLARGE, partsLimitMessage)
		up.noneComplete(t)
	})
}

func TestTextPartLimitsAreConfigurable(t *testing.T) {
	svc := hiCatalog(t)
	up := newHiUpstream(t)
	g := hiGateway(t, up, Config{MaxTextPartBytes: 100, MaxTextPartsBytes: 250})
	body, ct := hiMultipart(t, [4]string{"name", "", "", strings.Repeat("n", 101)}, [4]string{"file", "a", "", "x"})
	_, err := hiInvoke(t, g, svc, "upload", body, ct)
	hiWantError(t, err, aiproxy.ETOOLARGE, "Multipart text part 'name' is larger than the limit of 100 bytes.")
	body, ct = hiMultipart(t, [4]string{"a", "", "", strings.Repeat("n", 90)}, [4]string{"b", "", "", strings.Repeat("n", 90)},
		[4]string{"file", "a", "", "x"}, [4]string{"c", "", "", strings.Repeat("n", 90)})
	_, err = hiInvoke(t, g, svc, "upload", body, ct)
	hiWantError(t, err, aiproxy.ETOOLARGE, "Multipart text parts are larger than the limit of 250 bytes in all.")
	up.noneComplete(t)
}

// What a JSON envelope makes the gateway hold is bounded on its own (MaxEnvelopeBodyBytes);
// the files' data is not held, so it does not count, nor against MaxEnvelopeBytes.
func TestJSONEnvelopeHeldValuesHaveTheirOwnLimit(t *testing.T) {
	svc := hiCatalog(t)
	const heldMessage = "The envelope's body, query, headers, path_params and file names are larger than the limit of %d bytes."
	for _, tc := range []struct {
		name, envelope string
		cfg            Config
	}{
		{"default", `{"body": {"text": "` + strings.Repeat("a", 16<<20) + `"}}`, Config{}},
		{"body", `{"body": {"text": "` + strings.Repeat("a", 2000) + `"}}`, Config{MaxEnvelopeBodyBytes: 1024}},
		{"query", `{"query": {"q": "` + strings.Repeat("a", 2000) + `"}}`, Config{MaxEnvelopeBodyBytes: 1024}},
		{"together", `{"body": {"t": "` + strings.Repeat("a", 600) + `"}, "headers": {"X-A": "` + strings.Repeat("a", 600) + `"}}`, Config{MaxEnvelopeBodyBytes: 1024}},
		{"file name", `{"files": {"file": {"filename": "` + strings.Repeat("a", 2000) + `", "data": "QQ=="}}}`, Config{MaxEnvelopeBodyBytes: 1024}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newHiUpstream(t)
			g := hiGateway(t, up, tc.cfg)
			_, err := hiInvoke(t, g, svc, "upload", strings.NewReader(tc.envelope), "application/json")
			hiWantError(t, err, aiproxy.ETOOLARGE, fmt.Sprintf(heldMessage, g.limits.held))
			up.notCalled(t)
		})
	}
	// File data is neither held nor part of MaxEnvelopeBytes.
	up := newHiUpstream(t)
	g := hiGateway(t, up, Config{MaxEnvelopeBodyBytes: 1024, MaxEnvelopeBytes: 4096})
	data := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("d", 1<<20)))
	for _, action := range []string{"binary", "upload"} {
		env := `{"files": {"file": {"filename": "a.bin", "content_type": "text/plain", "data": "` + data + `"}}}`
		if _, err := hiInvoke(t, g, svc, action, strings.NewReader(env), "application/json"); err != nil {
			t.Fatalf("%s: a 1 MiB file under limits of 1 KiB held and 4 KiB of envelope: %v", action, err)
		}
	}
	// Everything else is: an unknown key's value streams through, but counts.
	_, err := hiInvoke(t, g, svc, "upload", strings.NewReader(`{"junk": "`+strings.Repeat("j", 8192)+`"}`), "application/json")
	hiWantError(t, err, aiproxy.ETOOLARGE, "Request body is larger than the limit of 4096 bytes.")
}
