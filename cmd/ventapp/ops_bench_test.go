package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/ventapp/ventapp/index"
	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/ops"
)

// TestOpsBenchmark measures backup and restore (time and archive size) and
// the daemon's start-to-READY time on a large store built directly with
// the jobs and index packages. Opt-in: VENTAPP_BENCH_OPS=1; the sizes come
// from VENTAPP_BENCH_OPS_JOBS (default 100000) and VENTAPP_BENCH_OPS_LINES
// (default 100000; the target is 1000000). It reports numbers and
// asserts only that each step works.
func TestOpsBenchmark(t *testing.T) {
	if os.Getenv("VENTAPP_BENCH_OPS") != "1" {
		t.Skip("set VENTAPP_BENCH_OPS=1 to run the operations benchmark")
	}
	nJobs := envInt(t, "VENTAPP_BENCH_OPS_JOBS", 100000)
	nLines := envInt(t, "VENTAPP_BENCH_OPS_LINES", 100000)
	root := t.TempDir()
	data := filepath.Join(root, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(root, "vent.cfg")
	cfg := "[main]\nfiles = " + filepath.Join(root, "drop") + "\n[ventapp]\ndata_dir = " + data +
		"\n[containerd]\naddress = " + filepath.Join(root, "none.sock") + "\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	ids := fillJobs(t, filepath.Join(data, "jobs.db"), nJobs)
	t.Logf("built %d jobs in %s", nJobs, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	fillIndex(t, filepath.Join(data, "index"), ids, nLines)
	t.Logf("indexed %d lines in %s", nLines, time.Since(start).Round(time.Millisecond))
	t.Logf("data dir: %s", mib(dirSize(t, data)))

	archive := filepath.Join(root, "backup.tar.gz")
	db, err := bbolt.Open(filepath.Join(data, "jobs.db"), 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	err = ops.Backup(context.Background(), f, ops.BackupSource{DB: db, DataDir: data, ConfigPath: cfgPath})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	backupTime := time.Since(start)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(archive)
	if err != nil {
		t.Fatal(err)
	}

	restored := filepath.Join(root, "restored")
	start = time.Now()
	if _, err := ops.Restore(archive, restored, "", ops.RestoreOptions{Force: true, DiscardOld: true}); err != nil {
		t.Fatal(err)
	}
	restoreTime := time.Since(start)

	t.Logf("RESULT jobs=%d lines=%d backup=%s archive=%s restore=%s", nJobs, nLines,
		backupTime.Round(time.Millisecond), mib(fi.Size()), restoreTime.Round(time.Millisecond))

	bin := ventappBinary(t)
	for i := 0; i < 3; i++ {
		t.Logf("RESULT start-to-READY run %d: %s", i+1, timeToReady(t, bin, cfgPath).Round(time.Millisecond))
	}
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a whole number >= 1", name, v)
	}
	return n
}

// fillJobs adds n files with one tool each from 8 goroutines (the store
// groups concurrent writes into one commit) and returns the job ids.
func fillJobs(t *testing.T, path string, n int) []string {
	t.Helper()
	s, err := jobs.Open(path, jobs.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				sum := fmt.Sprintf("%064x", i)
				list, err := s.AddFile(jobs.FileRecord{Path: fmt.Sprintf("/drop/cap-%07d.pcap", i), Size: 1000,
					SHA256: sum}, []string{"pcap-summary"})
				if err != nil {
					errs <- err
					return
				}
				ids[i] = list[0].ID
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return ids
}

// fillIndex adds n plugin output lines spread over the jobs, structured
// like the example plugin's JSON lines.
func fillIndex(t *testing.T, dir string, ids []string, n int) {
	t.Helper()
	ix, err := index.Open(dir, index.Options{BatchSize: 2000, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := 0; i < n; i++ {
		j := i % len(ids)
		text := fmt.Sprintf(`{"type":"dns","query":"host%d.example.org","src":"10.0.%d.%d","bytes":%d}`,
			i%5000, i%250, i%200, i%1500)
		err := ix.Add(index.Line{JobID: ids[j], Tool: "pcap-summary", File: fmt.Sprintf("/drop/cap-%07d.pcap", j),
			Container: ids[j], LineNo: i/len(ids) + 1, Time: now, Text: []byte(text)})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
}

// timeToReady starts `ventapp serve` under a fake NOTIFY_SOCKET and
// returns the time from exec to READY=1, then stops it.
func timeToReady(t *testing.T, bin, cfgPath string) time.Duration {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	var logBuf syncBuffer
	cmd.Stderr = &logBuf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no READY=1: %v\n%s", err, logBuf.String())
		}
		if strings.HasPrefix(string(buf[:n]), "READY=1") {
			return time.Since(start)
		}
	}
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			total += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

func mib(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
