package containers

import (
	"os"
	"testing"
)

// TestMain lets the test binary serve as the services' logging program,
// as ventapp's own binary does (see ServiceLogMain).
func TestMain(m *testing.M) {
	ServiceLogMain()
	os.Exit(m.Run())
}
