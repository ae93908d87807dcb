package httpapi

import "time"

// SetLeaseRenewEvery sets how often running idempotent requests renew their lease, for
// the duration of a test.
func SetLeaseRenewEvery(d time.Duration) (restore func()) {
	old := leaseRenewEvery
	leaseRenewEvery = d
	return func() { leaseRenewEvery = old }
}
