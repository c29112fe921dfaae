package drop

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/iotest"

	"golang.org/x/sys/unix"
)

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range des {
		names = append(names, d.Name())
	}
	return names
}

func TestPlace(t *testing.T) {
	root := t.TempDir()
	data := bytes.Repeat([]byte("pcap"), 10000)

	got, err := Place(bytes.NewReader(data), root, "a b.pcap")
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	if want := filepath.Join(root, "a b.pcap"); got != want {
		t.Errorf("path %q, want %q", got, want)
	}
	read, err := os.ReadFile(got)
	if err != nil || !bytes.Equal(read, data) {
		t.Errorf("content differs (%d bytes, err %v), want %d bytes", len(read), err, len(data))
	}
	fi, err := os.Stat(got)
	if err != nil || fi.Mode().Perm()&0o444 != 0o444 {
		t.Errorf("placed file mode %v (%v), want readable by all", fi.Mode(), err)
	}
	if names := entries(t, root); len(names) != 1 {
		t.Errorf("drop folder holds %q, want only the placed file", names)
	}
}

func TestPlaceCollisions(t *testing.T) {
	tests := []struct {
		name string
		want []string
	}{
		{"a.pcap", []string{"a.pcap", "a (1).pcap", "a (2).pcap"}},
		{"noext", []string{"noext", "noext (1)", "noext (2)"}},
		{"x.tar.gz", []string{"x.tar.gz", "x.tar (1).gz", "x.tar (2).gz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for i, want := range tt.want {
				got, err := Place(strings.NewReader(fmt.Sprint(i)), root, tt.name)
				if err != nil {
					t.Fatalf("Place #%d: %v", i, err)
				}
				if got != filepath.Join(root, want) {
					t.Errorf("Place #%d: got %q, want %q", i, filepath.Base(got), want)
				}
				if b, _ := os.ReadFile(got); string(b) != fmt.Sprint(i) {
					t.Errorf("Place #%d: %q holds %q; an earlier file was replaced", i, got, b)
				}
			}
		})
	}
}

// TestPlaceConcurrent places the same name from many goroutines: every
// call must get its own file and nothing may be overwritten.
func TestPlaceConcurrent(t *testing.T) {
	const n = 16
	root := t.TempDir()
	var wg sync.WaitGroup
	paths := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			paths[i], errs[i] = Place(strings.NewReader(fmt.Sprint(i)), root, "same.pcap")
		})
	}
	wg.Wait()

	seen := make(map[string]bool)
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Place #%d: %v", i, errs[i])
		}
		if seen[paths[i]] {
			t.Errorf("path %q returned twice", paths[i])
		}
		seen[paths[i]] = true
		if b, _ := os.ReadFile(paths[i]); string(b) != fmt.Sprint(i) {
			t.Errorf("%q holds %q, want %d", paths[i], b, i)
		}
	}
	if names := entries(t, root); len(names) != n {
		t.Errorf("drop folder holds %d entries, want %d: %q", len(names), n, names)
	}
}

func TestPlaceBadNames(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"", "a/b", "../x", "..", "a..b", ".", ".hidden", "a.part", "b.tmp",
		"x-miscellaneous-y", "nul\x00byte", strings.Repeat("n", 256)} {
		_, err := Place(strings.NewReader("data"), root, name)
		if !errors.Is(err, ErrBadName) {
			t.Errorf("Place(%q): got %v, want %v", name, err, ErrBadName)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
			t.Errorf("Place(%q): error %q does not name the name", name, err)
		}
	}
	if names := entries(t, root); len(names) != 0 {
		t.Errorf("drop folder holds %q after refused names", names)
	}
}

// TestPlaceFailureLeavesNothing checks that a failed Place leaves no
// temporary or final file behind.
func TestPlaceFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	writeFile(t, file, 1)
	boom := errors.New("boom")

	tests := []struct {
		name    string
		root    string
		src     io.Reader
		wantErr error
	}{
		{"reader fails at once", t.TempDir(), iotest.ErrReader(boom), boom},
		{"reader fails midway", t.TempDir(),
			io.MultiReader(bytes.NewReader(make([]byte, 1<<20)), iotest.ErrReader(boom)), boom},
		{"root missing", filepath.Join(dir, "missing"), strings.NewReader("x"), os.ErrNotExist},
		{"root is a file", file, strings.NewReader("x"), ErrNotDir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Place(tt.src, tt.root, "f.pcap")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Place: got %v, want %v", err, tt.wantErr)
			}
			if fi, err := os.Stat(tt.root); err == nil && fi.IsDir() {
				if names := entries(t, tt.root); len(names) != 0 {
					t.Errorf("left behind: %q", names)
				}
			}
		})
	}
}

// TestPlaceWatched checks that a watcher sees a Place as one complete file
// under its final name, and never the temporary file.
func TestPlaceWatched(t *testing.T) {
	w, c := startWatcher(t, Options{})
	data := make([]byte, 5<<20)

	path, err := Place(bytes.NewReader(data), w.Root(), "big.pcap")
	if err != nil {
		t.Fatal(err)
	}
	got := c.waitFor(t, path, 1)
	if got[0].Size != int64(len(data)) {
		t.Errorf("reported size %d, want %d", got[0].Size, len(data))
	}
	sentinel := filepath.Join(w.Root(), "sentinel")
	writeFile(t, sentinel, 1)
	c.waitFor(t, sentinel, 1)
	if paths := c.paths(); len(paths) != 2 || paths[path] != 1 {
		t.Errorf("reports %v, want %q once and the sentinel", paths, path)
	}
}

func TestPlaceFile(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	src := filepath.Join(dir, "in.pcap")
	writeFile(t, src, 1234)
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	hidden := filepath.Join(dir, ".hidden")
	writeFile(t, hidden, 1)

	tests := []struct {
		name    string
		src     string
		wantErr error
		inErr   string
	}{
		{"regular file", src, nil, ""},
		{"missing", filepath.Join(dir, "nope"), os.ErrNotExist, "nope"},
		{"directory", dir, ErrNotRegular, dir},
		{"fifo", fifo, ErrNotRegular, fifo},
		{"ignored name", hidden, ErrBadName, ".hidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PlaceFile(tt.src, root)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("PlaceFile: got %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tt.inErr) {
					t.Errorf("error %q does not name %q", err, tt.inErr)
				}
				return
			}
			if got != filepath.Join(root, "in.pcap") {
				t.Errorf("placed at %q", got)
			}
			if fi, err := os.Stat(got); err != nil || fi.Size() != 1234 {
				t.Errorf("placed file: %v, %v", fi, err)
			}
		})
	}
}

func TestHashFile(t *testing.T) {
	dir := t.TempDir()
	abc := filepath.Join(dir, "abc")
	if err := os.WriteFile(abc, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	writeFile(t, empty, 0)
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "inner"), []byte("abc"), 0o644)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644)
	os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "link"))
	os.Symlink(outside, filepath.Join(dir, "linkdir"))
	os.Symlink(filepath.Join(dir, "sub"), filepath.Join(dir, "insidelink"))
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}

	const sumABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	tests := []struct {
		path    string
		sum     string
		size    int64
		wantErr error
	}{
		{abc, sumABC, 3, nil},
		{empty, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0, nil},
		{filepath.Join(dir, "sub", "inner"), sumABC, 3, nil},
		{filepath.Join(dir, "missing"), "", 0, fs.ErrNotExist},
		{filepath.Join(dir, "sub"), "", 0, ErrNotRegular},
		{fifo, "", 0, ErrNotRegular}, // without a writer: refused, not waited for
		{filepath.Join(dir, "link"), "", 0, ErrSymlink},
		{filepath.Join(dir, "linkdir", "secret"), "", 0, ErrSymlink},
		{filepath.Join(dir, "insidelink", "inner"), "", 0, ErrSymlink},
		{filepath.Join(outside, "secret"), "", 0, ErrOutside},
		{dir, "", 0, ErrOutside},
	}
	for _, tt := range tests {
		sum, size, err := HashFile(dir, tt.path)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("HashFile(%q): error %v, want %v", tt.path, err, tt.wantErr)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("HashFile(%q): error %q does not name the path", tt.path, err)
			}
			continue
		}
		if sum != tt.sum || size != tt.size {
			t.Errorf("HashFile(%q) = %s, %d; want %s, %d", tt.path, sum, size, tt.sum, tt.size)
		}
	}
}

func TestStatDirBeneath(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "a", "b"), 0o755)
	outside := t.TempDir()
	os.Symlink(outside, filepath.Join(root, "a", "link"))

	tests := []struct {
		dir     string
		wantErr error
	}{
		{root, nil},
		{filepath.Join(root, "a", "b"), nil},
		{filepath.Join(root, "a", "link"), ErrSymlink},
		{filepath.Join(root, "a", "link", "x"), ErrSymlink},
		{filepath.Join(root, "a", "missing"), fs.ErrNotExist},
		{outside, ErrOutside},
	}
	for _, tt := range tests {
		st, err := StatDirBeneath(root, tt.dir)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("StatDirBeneath(%s): %v, want %v", tt.dir, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		var want unix.Stat_t
		unix.Stat(tt.dir, &want)
		if st.Dev != want.Dev || st.Ino != want.Ino {
			t.Errorf("StatDirBeneath(%s) = %d/%d, want %d/%d", tt.dir, st.Dev, st.Ino, want.Dev, want.Ino)
		}
	}
}

func TestWithin(t *testing.T) {
	tests := []struct {
		dir, path, rel string
		ok             bool
	}{
		{"/drop", "/drop", ".", true},
		{"/drop/", "/drop/a/b", "a/b", true},
		{"/drop", "/drop/../etc", "", false},
		{"/drop", "/dropped/x", "", false},
		{"/drop", "/etc", "", false},
		{"/drop", "/drop/..x", "..x", true},
	}
	for _, tt := range tests {
		if rel, ok := Within(tt.dir, tt.path); rel != tt.rel || ok != tt.ok {
			t.Errorf("Within(%q, %q) = %q, %v; want %q, %v", tt.dir, tt.path, rel, ok, tt.rel, tt.ok)
		}
	}
}
