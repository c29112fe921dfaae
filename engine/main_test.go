package engine

import (
	"os"
	"testing"

	"github.com/ventapp/ventapp/containers"
)

// TestMain lets the test binary serve as the services' logging program,
// as ventapp's own binary does (see containers.ServiceLogMain).
func TestMain(m *testing.M) {
	containers.ServiceLogMain()
	os.Exit(m.Run())
}
