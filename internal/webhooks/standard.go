package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Errors of the signature checks (Verify, VerifyElevenLabs, VerifyHeyGen). They name no
// secret and no signature, so a caller may log them; it maps them to its own 401 texts.
var (
	ErrNoSignature  = errors.New("webhooks: the request carries no signature")
	ErrBadSignature = errors.New("webhooks: no signature of the request matches")
	ErrBadTimestamp = errors.New("webhooks: the request's timestamp is missing or malformed")
	ErrStale        = errors.New("webhooks: the request's timestamp is too old or too far in the future")
	ErrBadSecret    = errors.New("webhooks: the signing secret is empty or malformed")
)

const (
	secretPrefix = "whsec_"
	secretBytes  = 32
	// DefaultTolerance is how far a Standard Webhooks timestamp may be from the receiver's
	// clock, either way.
	DefaultTolerance = 5 * time.Minute
)

// NewSecret returns a new signing secret: "whsec_" and the standard base64 of 32 random
// bytes.
func NewSecret() string {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return secretPrefix + base64.StdEncoding.EncodeToString(b)
}

// secretKey returns the HMAC key of a Standard Webhooks secret: the base64 after "whsec_"
// (the prefix is optional, as in the reference libraries).
func secretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil || len(key) == 0 {
		return nil, ErrBadSecret
	}
	return key, nil
}

func mac(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the webhook-signature header of a message: "v1," and the standard base64
// of HMAC-SHA256 over id + "." + ts in Unix seconds + "." + body, keyed with the
// base64-decoded part of secret after "whsec_". It fails (ErrBadSecret) only for a secret
// that does not decode.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	sum := mac(key, id, strconv.FormatInt(ts.Unix(), 10), body)
	return "v1," + base64.StdEncoding.EncodeToString(sum), nil
}

// Verify checks a request signed as Standard Webhooks require, as a receiver of the
// gateway's webhooks does: the webhook-id, webhook-timestamp and webhook-signature headers
// of h, and body exactly as received (before any JSON decoding). The signature header may
// hold several space-separated signatures ("v1,… v1,…", as while a secret is rotated); one
// matching v1 signature suffices, compared in constant time. The timestamp must be within
// tolerance of now, either way (DefaultTolerance when tolerance <= 0). It returns nil or
// one of ErrNoSignature, ErrBadTimestamp, ErrBadSignature, ErrStale, ErrBadSecret.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	key, err := secretKey(secret)
	if err != nil {
		return err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	id, sigs := h.Get("webhook-id"), h.Get("webhook-signature")
	if id == "" || strings.TrimSpace(sigs) == "" {
		return ErrNoSignature
	}
	tsText := h.Get("webhook-timestamp")
	ts, err := parseUnix(tsText)
	if err != nil {
		return ErrBadTimestamp
	}
	want := []byte(base64.StdEncoding.EncodeToString(mac(key, id, tsText, body)))
	ok := false
	for _, s := range strings.Fields(sigs) {
		version, sig, found := strings.Cut(s, ",")
		if !found || version != "v1" {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(sig), want) == 1 {
			ok = true
		}
	}
	if !ok {
		return ErrBadSignature
	}
	if d := now.Sub(ts); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}

// parseUnix parses a timestamp in Unix seconds: decimal digits only.
func parseUnix(s string) (time.Time, error) {
	if s == "" || len(s) > 12 || strings.TrimLeft(s, "0123456789") != "" {
		return time.Time{}, ErrBadTimestamp
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, ErrBadTimestamp
	}
	return time.Unix(n, 0), nil
}
