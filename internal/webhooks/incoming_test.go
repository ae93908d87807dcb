package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Vectors computed with openssl (printf '%s' MSG | openssl dgst -sha256 -hmac KEY).
const (
	elSecret = "wsec_elevenlabs_test"
	elTime   = 1700000000
	elBody   = `{"type":"post_call_transcription","data":{}}`
	elSig    = "d3a04db1bfba8b5b2b218d62922164cd58765c3b0a768b899817ee9b8a96cd66"

	hgBody       = `{"event_type":"avatar_video.success","event_data":{"video_id":"v1"}}`
	hgSig        = "966df4af4d7f66d5e00b22a67f4db8e51ebb91728134f263e125cacbcd19f900" // key "heygen-secret"
	hgSigWithPfx = "321e2a850e66c20b1a27610f7afa723fcb6b6113ef10e7f3aad51d24f699d50c" // key "whsec_heygen-secret"
)

func hexHMAC(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func elevenLabsHeader(secret string, ts time.Time, body string) string {
	t := strconv.FormatInt(ts.Unix(), 10)
	return "t=" + t + ",v0=" + hexHMAC(secret, t+"."+body)
}

func TestVerifyElevenLabsAcceptsAKnownSignature(t *testing.T) {
	ts, err := VerifyElevenLabs(elSecret, fmt.Sprintf("t=%d,v0=%s", elTime, elSig), []byte(elBody), time.Unix(elTime+60, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !ts.Equal(time.Unix(elTime, 0)) {
		t.Fatalf("t = %v", ts)
	}
	// Upper-case hex and spaces after commas are accepted too.
	h := fmt.Sprintf("t=%d, v0=%s", elTime, strings.ToUpper(elSig))
	if _, err := VerifyElevenLabs(elSecret, h, []byte(elBody), time.Unix(elTime, 0)); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyElevenLabsAcceptsAnyOfSeveralV0(t *testing.T) {
	now := time.Now()
	body := `{"a":1}`
	h := elevenLabsHeader("new-secret", now, body)
	other := hexHMAC("old-secret", strconv.FormatInt(now.Unix(), 10)+"."+body)
	for _, header := range []string{h + ",v0=" + other, fmt.Sprintf("t=%d,v0=%s,v0=zz,%s", now.Unix(), other, h[strings.Index(h, "v0="):])} {
		if _, err := VerifyElevenLabs("new-secret", header, []byte(body), now); err != nil {
			t.Errorf("%s: %v", header, err)
		}
		if _, err := VerifyElevenLabs("old-secret", header, []byte(body), now); err != nil {
			t.Errorf("%s with the old secret: %v", header, err)
		}
	}
}

func TestVerifyElevenLabsRefusesTamperedBodyAndWrongSecret(t *testing.T) {
	now := time.Now()
	h := elevenLabsHeader("s3cret", now, `{"a":1}`)
	if _, err := VerifyElevenLabs("s3cret", h, []byte(`{"a":2}`), now); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered body: %v", err)
	}
	if _, err := VerifyElevenLabs("other", h, []byte(`{"a":1}`), now); !errors.Is(err, ErrBadSignature) {
		t.Errorf("wrong secret: %v", err)
	}
	// The timestamp is signed: changing it breaks the signature.
	moved := strings.Replace(h, strconv.FormatInt(now.Unix(), 10), strconv.FormatInt(now.Unix()-1, 10), 1)
	if _, err := VerifyElevenLabs("s3cret", moved, []byte(`{"a":1}`), now); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other timestamp: %v", err)
	}
	if _, err := VerifyElevenLabs("", h, []byte(`{"a":1}`), now); !errors.Is(err, ErrBadSecret) {
		t.Errorf("empty secret: %v", err)
	}
}

func TestVerifyElevenLabsRefusesStaleAndFutureTimestamps(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		off  time.Duration
		want error
	}{
		{-29 * time.Minute, nil},
		{-31 * time.Minute, ErrStale},
		{4 * time.Minute, nil},
		{6 * time.Minute, ErrStale},
	} {
		ts := now.Add(c.off)
		if _, err := VerifyElevenLabs("s", elevenLabsHeader("s", ts, "{}"), []byte("{}"), now); !errors.Is(err, c.want) {
			t.Errorf("t %v from now: %v, want %v", c.off, err, c.want)
		}
	}
}

func TestVerifyElevenLabsRefusesMalformedHeaders(t *testing.T) {
	now := time.Now()
	good := elevenLabsHeader("s", now, "{}")
	sig := good[strings.Index(good, "v0="):]
	for header, want := range map[string]error{
		"":                                       ErrNoSignature,
		"t=" + strconv.FormatInt(now.Unix(), 10): ErrNoSignature,
		sig:                                      ErrBadTimestamp,
		"t=abc," + sig:                           ErrBadTimestamp,
		"t=-5," + sig:                            ErrBadTimestamp,
		good + ",t=1":                            ErrBadTimestamp,
	} {
		if _, err := VerifyElevenLabs("s", header, []byte("{}"), now); !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", header, err, want)
		}
	}
}

func TestVerifyHeyGenAcceptsAKnownSignature(t *testing.T) {
	now := time.Now()
	for secret, sig := range map[string]string{
		"heygen-secret":       hgSig,
		"whsec_heygen-secret": hgSig, // keyed with the secret minus whsec_
	} {
		h := http.Header{"Signature": {sig}, "Heygen-Event-Id": {"evt_1"}}
		id, ts, err := VerifyHeyGen(secret, h, []byte(hgBody), now)
		if err != nil || id != "evt_1" || !ts.IsZero() {
			t.Errorf("secret %q: %q %v %v", secret, id, ts, err)
		}
	}
	h := http.Header{"Signature": {hgSigWithPfx}}
	if _, _, err := VerifyHeyGen("whsec_heygen-secret", h, []byte(hgBody), now); err != nil {
		t.Errorf("keyed with the whole whsec_ secret: %v", err)
	}
}

func TestVerifyHeyGenAcceptsEachHeaderAndThePrefix(t *testing.T) {
	body := `{"event_type":"avatar_video.fail"}`
	sig := hexHMAC("k", body)
	for _, name := range []string{"Signature", "X-Signature", "Heygen-Signature", "X-Heygen-Signature"} {
		for _, v := range []string{sig, "sha256=" + sig, "SHA256=" + strings.ToUpper(sig)} {
			h := http.Header{}
			h.Set(name, v)
			if _, _, err := VerifyHeyGen("k", h, []byte(body), time.Now()); err != nil {
				t.Errorf("%s: %s: %v", name, v, err)
			}
		}
	}
}

func TestVerifyHeyGenRefusesTamperedBodyAndWrongSecret(t *testing.T) {
	h := http.Header{"X-Signature": {hgSig}}
	if _, _, err := VerifyHeyGen("heygen-secret", h, []byte(hgBody+" "), time.Now()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered body: %v", err)
	}
	if _, _, err := VerifyHeyGen("other", h, []byte(hgBody), time.Now()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("wrong secret: %v", err)
	}
	if _, _, err := VerifyHeyGen("", h, []byte(hgBody), time.Now()); !errors.Is(err, ErrBadSecret) {
		t.Errorf("empty secret: %v", err)
	}
	if _, _, err := VerifyHeyGen("heygen-secret", http.Header{"X-Other": {hgSig}}, []byte(hgBody), time.Now()); !errors.Is(err, ErrNoSignature) {
		t.Errorf("no signature header: %v", err)
	}
}

func TestVerifyHeyGenAcceptsAnyOfSeveralSignatures(t *testing.T) {
	h := http.Header{"Signature": {"00ff", hexHMAC("other", hgBody)}, "X-Heygen-Signature": {hgSig}}
	if _, _, err := VerifyHeyGen("heygen-secret", h, []byte(hgBody), time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyHeyGenChecksTheTimestampWhenPresent(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		ts   string
		want error
	}{
		{strconv.FormatInt(now.Add(-29*time.Minute).Unix(), 10), nil},
		{strconv.FormatInt(now.Add(-31*time.Minute).Unix(), 10), ErrStale},
		{strconv.FormatInt(now.Add(4*time.Minute).Unix(), 10), nil},
		{strconv.FormatInt(now.Add(6*time.Minute).Unix(), 10), ErrStale},
		{"yesterday", ErrBadTimestamp},
	} {
		h := http.Header{"Signature": {hgSig}, "Heygen-Timestamp": {c.ts}}
		_, ts, err := VerifyHeyGen("heygen-secret", h, []byte(hgBody), now)
		if !errors.Is(err, c.want) {
			t.Errorf("timestamp %s: %v, want %v", c.ts, err, c.want)
		}
		if err == nil && strconv.FormatInt(ts.Unix(), 10) != c.ts {
			t.Errorf("timestamp %s: returned %v", c.ts, ts)
		}
	}
}
