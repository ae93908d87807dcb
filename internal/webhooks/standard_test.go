package webhooks

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The example of the Standard Webhooks specification (and of its reference libraries'
// tests).
const (
	refSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	refID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	refTimestamp = 1614265330
	refBody      = `{"test": 2432232314}`
	refSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func signedHeader(id string, ts time.Time, sig string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", sig)
	return h
}

func TestSignMatchesStandardWebhooksReferenceVector(t *testing.T) {
	sig, err := Sign(refSecret, refID, time.Unix(refTimestamp, 0), []byte(refBody))
	if err != nil {
		t.Fatal(err)
	}
	if sig != refSignature {
		t.Fatalf("Sign = %q, want %q", sig, refSignature)
	}
	h := signedHeader(refID, time.Unix(refTimestamp, 0), refSignature)
	if err := Verify(refSecret, h, []byte(refBody), time.Unix(refTimestamp+10, 0), 0); err != nil {
		t.Fatalf("Verify of the reference vector: %v", err)
	}
}

func TestNewSecretIsWhsecAnd32RandomBytes(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	if a == b {
		t.Fatal("two secrets are equal")
	}
	rest, ok := strings.CutPrefix(a, "whsec_")
	if !ok {
		t.Fatalf("secret %q lacks whsec_", a)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(key) != 32 {
		t.Fatalf("secret %q: %d bytes, %v", a, len(key), err)
	}
}

func TestSignAndVerifyRoundTrip(t *testing.T) {
	secret, now := NewSecret(), time.Now()
	body := []byte(`{"type":"job.completed","data":{"id":42}}`)
	sig, err := Sign(secret, "msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sig, "v1,") {
		t.Fatalf("signature %q lacks v1,", sig)
	}
	if err := Verify(secret, signedHeader("msg_1", now, sig), body, now, 0); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestVerifyAcceptsAnyOfSeveralSignatures(t *testing.T) {
	now := time.Now()
	body := []byte(`{}`)
	old, cur := NewSecret(), NewSecret()
	sigOld, _ := Sign(old, "msg_1", now, body)
	sigCur, _ := Sign(cur, "msg_1", now, body)
	h := signedHeader("msg_1", now, "v2,abc "+sigOld+" "+sigCur)
	for _, s := range []string{old, cur} {
		if err := Verify(s, h, body, now, 0); err != nil {
			t.Errorf("Verify with one of two signed secrets: %v", err)
		}
	}
	if err := Verify(NewSecret(), h, body, now, 0); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify with a third secret = %v, want ErrBadSignature", err)
	}
}

func TestVerifyRefusesTamperedBodyIDOrTimestamp(t *testing.T) {
	secret, now := NewSecret(), time.Now()
	body := []byte(`{"n":1}`)
	sig, _ := Sign(secret, "msg_1", now, body)
	if err := Verify(secret, signedHeader("msg_1", now, sig), []byte(`{"n":2}`), now, 0); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered body: %v", err)
	}
	if err := Verify(secret, signedHeader("msg_2", now, sig), body, now, 0); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other id: %v", err)
	}
	if err := Verify(secret, signedHeader("msg_1", now.Add(-time.Second), sig), body, now, 0); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other timestamp: %v", err)
	}
	if err := Verify(NewSecret(), signedHeader("msg_1", now, sig), body, now, 0); !errors.Is(err, ErrBadSignature) {
		t.Errorf("wrong secret: %v", err)
	}
}

func TestVerifyRefusesTimestampsOutsideTolerance(t *testing.T) {
	secret, now := NewSecret(), time.Now()
	body := []byte(`{}`)
	for _, c := range []struct {
		off  time.Duration
		want error
	}{
		{-4 * time.Minute, nil},
		{4 * time.Minute, nil},
		{-6 * time.Minute, ErrStale},
		{6 * time.Minute, ErrStale},
	} {
		ts := now.Add(c.off)
		sig, _ := Sign(secret, "msg_1", ts, body)
		if err := Verify(secret, signedHeader("msg_1", ts, sig), body, now, 0); !errors.Is(err, c.want) {
			t.Errorf("timestamp %v from now: %v, want %v", c.off, err, c.want)
		}
	}
}

func TestVerifyRefusesMissingHeaders(t *testing.T) {
	secret, now := NewSecret(), time.Now()
	sig, _ := Sign(secret, "msg_1", now, nil)
	for name, want := range map[string]error{
		"webhook-id": ErrNoSignature, "webhook-signature": ErrNoSignature, "webhook-timestamp": ErrBadTimestamp,
	} {
		h := signedHeader("msg_1", now, sig)
		h.Del(name)
		if err := Verify(secret, h, nil, now, 0); !errors.Is(err, want) {
			t.Errorf("without %s: %v, want %v", name, err, want)
		}
	}
	h := signedHeader("msg_1", now, sig)
	h.Set("webhook-timestamp", "12e9")
	if err := Verify(secret, h, nil, now, 0); !errors.Is(err, ErrBadTimestamp) {
		t.Errorf("malformed timestamp: %v", err)
	}
}

func TestSignRefusesMalformedSecret(t *testing.T) {
	for _, s := range []string{"", "whsec_", "whsec_not base64!"} {
		if _, err := Sign(s, "msg_1", time.Now(), nil); !errors.Is(err, ErrBadSecret) {
			t.Errorf("Sign with %q: %v, want ErrBadSecret", s, err)
		}
	}
}
