// Package simcore holds what the provider simulators share: the scaled clock, the
// deterministic random source, per-key object ownership and the fault controls that tests
// use to make the next calls for a key fail in a chosen way.
package simcore

import (
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configure a simulator.
type Options struct {
	// Speed scales simulated time: 2 makes jobs finish twice as fast. Zero means 1.
	Speed float64
	// Seed makes generated ids and data deterministic.
	Seed uint64
	// PublicURL, when set, is the absolute base URL under which the simulator is reachable
	// (used in video_url and similar links). When empty, links are built from the request's
	// Host header.
	PublicURL string
	// WebhookSignatureHeader names the header carrying the HMAC-SHA256 signature of webhook
	// bodies. Empty means "X-Signature".
	WebhookSignatureHeader string
	// Faults is shared by all providers of one simulator process. Nil means a fresh registry.
	Faults *Faults
	// ValidKeys, when non-empty, is the set of provider keys the simulator accepts; any other
	// key is "wrong". When empty, every non-empty key is accepted except those that begin with
	// "invalid" (wrong key). Keys that begin with "exhausted" are valid but out of quota/credit.
	ValidKeys []string
}

// WithFaults returns o with a fresh fault registry when it has none.
func (o Options) WithFaults() Options {
	if o.Faults == nil {
		o.Faults = NewFaults()
	}
	return o
}

// KeyState classifies a provider key.
type KeyState int

const (
	KeyMissing KeyState = iota
	KeyWrong
	KeyExhausted
	KeyValid
)

// CheckKey classifies key under the options' rules.
func (o Options) CheckKey(key string) KeyState {
	switch {
	case key == "":
		return KeyMissing
	case strings.HasPrefix(key, "invalid"):
		return KeyWrong
	}
	if len(o.ValidKeys) > 0 && !slices.Contains(o.ValidKeys, key) {
		return KeyWrong
	}
	if strings.HasPrefix(key, "exhausted") {
		return KeyExhausted
	}
	return KeyValid
}

// Clock is the simulator's notion of time: real time, scaled by Speed from the moment it
// is asked about.
type Clock struct{ speed float64 }

// NewClock returns a clock running speed times faster than real time.
func NewClock(speed float64) *Clock {
	if speed <= 0 {
		speed = 1
	}
	return &Clock{speed: speed}
}

// Now returns the wall-clock time (used for timestamps in responses).
func (c *Clock) Now() time.Time { return time.Now() }

// Elapsed returns the simulated time that has passed since t.
func (c *Clock) Elapsed(t time.Time) time.Duration {
	return time.Duration(float64(time.Since(t)) * c.speed)
}

// Scale converts a simulated duration into the real duration it takes.
func (c *Clock) Scale(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.speed)
}

// Rand is a goroutine-safe deterministic random source.
type Rand struct {
	mu sync.Mutex
	r  *rand.Rand
}

// NewRand returns a random source seeded with seed.
func NewRand(seed uint64) *Rand {
	return &Rand{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// IntN returns a number in [0,n).
func (r *Rand) IntN(n int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.r.IntN(n)
}

// Hex returns n random lowercase hex characters.
func (r *Rand) Hex(n int) string { return r.from("0123456789abcdef", n) }

// Alnum returns n random characters from [A-Za-z0-9] (ElevenLabs-style ids).
func (r *Rand) Alnum(n int) string {
	return r.from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", n)
}

// from returns n random characters of chars.
func (r *Rand) from(chars string, n int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[r.r.IntN(len(chars))]
	}
	return string(b)
}
