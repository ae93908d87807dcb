package gateway

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

var scrubCases = []struct{ secret, body string }{
	{"el-bench-key", `{"xi_api_key": "el-bench-key", "other": "el-bench-keel-bench-key"}`},
	{"sk_0123456789abcdef", "sk_0123456789abcdef at the start and at the end sk_0123456789abcdef"},
	{"aaaaaa", "aaaaaaaaaaaaa"},         // overlapping occurrences
	{"abcabd", "abcabcabdabcabd"},       // a near miss before a hit
	{"ZZZZZZ", "no secret here at all"}, // none
	{"k3y-secret", "k3y-secre"},         // a prefix only
	{"Key1234567", strings.Repeat("Key123456 ", 50) + "Key1234567"},
}

func TestScrubberMasksEveryOccurrenceLikeReplaceAll(t *testing.T) {
	for _, c := range scrubCases {
		s := makeScrubber(c.secret)
		want := bytes.ReplaceAll([]byte(c.body), []byte(c.secret), bytes.Repeat([]byte("*"), len(c.secret)))
		if got := s.Bytes([]byte(c.body)); !bytes.Equal(got, want) {
			t.Errorf("secret %q in %q: got %q, want %q", c.secret, c.body, got, want)
		}
		if got := s.String(c.body); got != string(want) {
			t.Errorf("String: secret %q: got %q, want %q", c.secret, got, want)
		}
	}
}

// A secret split across the writes of a stream is still masked, and every byte that cannot
// be part of it goes out at once.
func TestScrubWriterMasksASecretSplitAcrossWrites(t *testing.T) {
	const secret = "sk_live_9f8e7d6c"
	body := "chunk one, then the key " + secret + " and more text " + secret
	want := strings.ReplaceAll(body, secret, strings.Repeat("*", len(secret)))
	s := makeScrubber(secret)
	for split := 1; split < len(body); split++ {
		var out bytes.Buffer
		w := &scrubWriter{w: &out, s: &s}
		w.Write([]byte(body[:split]))
		w.Write([]byte(body[split:]))
		w.Close()
		if out.String() != want {
			t.Fatalf("split at %d: %q", split, out.String())
		}
	}
	var out bytes.Buffer
	w := &scrubWriter{w: &out, s: &s}
	w.Write([]byte("no secret in this chunk."))
	if out.String() != "no secret in this chunk." {
		t.Errorf("a chunk that cannot hold the secret was held back: %q", out.String())
	}
}

func FuzzScrubber(f *testing.F) {
	for _, c := range scrubCases {
		f.Add(c.secret, c.body)
	}
	f.Fuzz(func(t *testing.T, secret, body string) {
		if len(secret) < minScrubLen {
			return
		}
		s := makeScrubber(secret)
		want := bytes.ReplaceAll([]byte(body), []byte(secret), bytes.Repeat([]byte("*"), len(secret)))
		got := s.Bytes([]byte(body))
		// ReplaceAll and a left-to-right mask agree except where masking one occurrence
		// creates or destroys another; what matters is that no occurrence survives and
		// the length is kept.
		if len(got) != len(body) {
			t.Fatalf("length changed: %d → %d", len(body), len(got))
		}
		if bytes.Contains(got, []byte(secret)) && !bytes.Contains([]byte(secret), []byte("*")) {
			t.Fatalf("the secret survived: %q", got)
		}
		if !bytes.Contains([]byte(secret), []byte("*")) && !bytes.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}

func BenchmarkScrubVoiceList(b *testing.B) {
	body := []byte(strings.Repeat(`{"voice_id": "21m00Tcm4TlvDq8ikWAM", "name": "Rachel", "description": "a settled, easy voice", "labels": {"accent": "american"}}, `, 160))
	for _, secret := range []string{"el-bench-key", "sk_3f9a2b7c1d"} {
		s := makeScrubber(secret)
		b.Run(secret, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for range b.N {
				s.Bytes(body)
			}
		})
		b.Run(secret+"/bytes.Contains", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for range b.N {
				bytes.Contains(body, []byte(secret))
			}
		})
	}
}

func BenchmarkScrubAudio(b *testing.B) {
	audio := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range audio {
		audio[i] = byte(r.Uint32())
	}
	s := makeScrubber("el-bench-key")
	var out bytes.Buffer
	w := &scrubWriter{w: &out, s: &s}
	b.SetBytes(int64(len(audio)))
	for range b.N {
		out.Reset()
		for i := 0; i < len(audio); i += 32 << 10 {
			w.Write(audio[i : i+32<<10])
		}
	}
}
