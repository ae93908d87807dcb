package webhooks

import (
	"math/rand/v2"
	"time"
)

// retryDelays are the waits after the first, second, … failed attempt; after the last
// one, every retryEvery. Each is jittered by up to ±retryJitter.
var retryDelays = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, time.Hour}

const (
	retryEvery  = 3 * time.Hour
	retryJitter = 0.10
	// GiveUpAfter is how long after its event a delivery is retried.
	GiveUpAfter = 24 * time.Hour
)

// NextAttempt returns when to try a delivery created at created again, after its
// attempts-th failed attempt ended at now: 5 s, 30 s, 2 min, 10 min, 1 h after the first
// to fifth, then every 3 h, each with up to ±10% jitter. It returns false (give up) when
// that would be more than 24 hours after created.
func NextAttempt(attempts int, created, now time.Time) (time.Time, bool) {
	return nextAttempt(attempts, created, now, 2*rand.Float64()-1)
}

// nextAttempt is NextAttempt with its jitter given: j in [-1, 1] scales ±retryJitter.
func nextAttempt(attempts int, created, now time.Time, j float64) (time.Time, bool) {
	d := retryEvery
	if attempts <= 0 {
		attempts = 1
	}
	if attempts <= len(retryDelays) {
		d = retryDelays[attempts-1]
	}
	d += time.Duration(float64(d) * retryJitter * j)
	next := now.Add(d)
	if next.Sub(created) > GiveUpAfter {
		return time.Time{}, false
	}
	return next, true
}
