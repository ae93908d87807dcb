package webhooks

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: a Run loop not
// stopped, an attempt not cancelled, a connection not closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
