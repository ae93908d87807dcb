package httpapi_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: an upstream call not
// cancelled, a stream copy still running, a background loop not stopped.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
