package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// How old, and how far in the future, a provider's signed timestamp may be.
const (
	incomingMaxAge    = 30 * time.Minute
	incomingMaxFuture = 5 * time.Minute
)

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// fresh reports whether ts is at most incomingMaxAge before now and at most
// incomingMaxFuture after it.
func fresh(ts, now time.Time) bool {
	d := now.Sub(ts)
	return d <= incomingMaxAge && d >= -incomingMaxFuture
}

// VerifyElevenLabs checks the ElevenLabs-Signature header of an ElevenLabs webhook,
// "t=<unix seconds>,v0=<hex>", against body as received: v0 is the hex HMAC-SHA256, keyed
// with secret (its UTF-8 bytes), of "<t>.<body>". The header may hold several v0 values;
// one match suffices (compared in constant time). t must be at most 30 minutes old and at
// most 5 minutes in the future. It returns t, or one of ErrNoSignature, ErrBadTimestamp,
// ErrBadSignature, ErrStale, ErrBadSecret (an empty secret).
func VerifyElevenLabs(secret, header string, body []byte, now time.Time) (time.Time, error) {
	if secret == "" {
		return time.Time{}, ErrBadSecret
	}
	var tsText string
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			if tsText != "" { // two timestamps: which one was signed?
				return time.Time{}, ErrBadTimestamp
			}
			tsText = v
		case "v0":
			sigs = append(sigs, v)
		}
	}
	if len(sigs) == 0 {
		return time.Time{}, ErrNoSignature
	}
	ts, err := parseUnix(tsText)
	if err != nil {
		return time.Time{}, ErrBadTimestamp
	}
	msg := make([]byte, 0, len(tsText)+1+len(body))
	msg = append(append(append(msg, tsText...), '.'), body...)
	want := hmacSHA256([]byte(secret), msg)
	if !anyHexMatch(sigs, want) {
		return time.Time{}, ErrBadSignature
	}
	if !fresh(ts, now) {
		return time.Time{}, ErrStale
	}
	return ts, nil
}

// anyHexMatch reports whether one of sigs is the hex of want (either case), comparing in
// constant time.
func anyHexMatch(sigs []string, want []byte) bool {
	ok := false
	for _, s := range sigs {
		got, err := hex.DecodeString(strings.TrimSpace(s))
		if err == nil && hmac.Equal(got, want) {
			ok = true
		}
	}
	return ok
}

// heygenSignatureHeaders are the headers VerifyHeyGen reads a signature from: HeyGen does
// not document its header's name.
var heygenSignatureHeaders = []string{"Signature", "X-Signature", "Heygen-Signature", "X-Heygen-Signature"}

// VerifyHeyGen checks a HeyGen webhook: one of the headers Signature, X-Signature,
// Heygen-Signature or X-Heygen-Signature (HeyGen does not document which) must hold the hex
// HMAC-SHA256 of body as received (optionally prefixed "sha256="), keyed with secret as
// it is or, when secret starts with "whsec_", with the rest of it. A Heygen-Timestamp
// header (Unix seconds), when present, must be at most 30 minutes old and at most 5
// minutes in the future (it is not signed: it only narrows what a replay can reuse). It
// returns the Heygen-Event-Id header ("" when absent) and the timestamp (zero when
// absent), or one of ErrNoSignature, ErrBadSignature, ErrBadTimestamp, ErrStale,
// ErrBadSecret (an empty secret).
func VerifyHeyGen(secret string, h http.Header, body []byte, now time.Time) (eventID string, ts time.Time, err error) {
	if secret == "" {
		return "", time.Time{}, ErrBadSecret
	}
	var sigs []string
	for _, name := range heygenSignatureHeaders {
		for _, v := range h.Values(name) {
			v = strings.TrimSpace(v)
			if len(v) > 7 && strings.EqualFold(v[:7], "sha256=") {
				v = v[7:]
			}
			if v != "" {
				sigs = append(sigs, v)
			}
		}
	}
	if len(sigs) == 0 {
		return "", time.Time{}, ErrNoSignature
	}
	ok := anyHexMatch(sigs, hmacSHA256([]byte(secret), body))
	if rest, found := strings.CutPrefix(secret, secretPrefix); found && rest != "" {
		ok = anyHexMatch(sigs, hmacSHA256([]byte(rest), body)) || ok
	}
	if !ok {
		return "", time.Time{}, ErrBadSignature
	}
	if v := h.Get("Heygen-Timestamp"); v != "" {
		if ts, err = parseUnix(strings.TrimSpace(v)); err != nil {
			return "", time.Time{}, ErrBadTimestamp
		}
		if !fresh(ts, now) {
			return "", time.Time{}, ErrStale
		}
	}
	return h.Get("Heygen-Event-Id"), ts, nil
}
