package netns

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// inode returns the namespace inode of the calling thread.
func inode(t *testing.T) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func TestRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("joining a network namespace needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 is not installed")
	}
	name := "ventapp-netns-" + strings.ReplaceAll(t.Name(), "/", "-")
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	path := "/run/netns/" + name

	var want unix.Stat_t
	if err := unix.Stat(path, &want); err != nil {
		t.Fatal(err)
	}
	sentinel := errors.New("from fn")
	tests := []struct {
		name    string
		path    string
		fnErr   error
		wantIno uint64 // 0: the caller's
		wantErr string
	}{
		{"own namespace", "", nil, 0, ""},
		{"other namespace", path, nil, want.Ino, ""},
		{"fn error comes back", path, sentinel, want.Ino, "from fn"},
		{"missing namespace", "/run/netns/ventapp-no-such", nil, 0, "ventapp-no-such"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan struct{})
			go func() { // a goroutine of its own, as Run asks of callers
				defer close(done)
				before := inode(t)
				var inside uint64
				err := Run(tc.path, func() error {
					inside = inode(t)
					return tc.fnErr
				})
				switch {
				case tc.wantErr == "" && err != nil:
					t.Errorf("Run: %v", err)
				case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
					t.Errorf("Run: error %v, want one containing %q", err, tc.wantErr)
				}
				if tc.wantErr == "" || tc.fnErr != nil {
					if w := tc.wantIno; w != 0 && inside != w || w == 0 && inside != before {
						t.Errorf("fn ran in namespace %d", inside)
					}
				}
				if after := inode(t); after != before {
					t.Errorf("thread left in namespace %d, was %d", after, before)
				}
			}()
			<-done
		})
	}
}
