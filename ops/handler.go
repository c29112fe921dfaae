package ops

import (
	"fmt"
	"net/http"
	"time"
)

// Handler serves GET requests with a backup archive of src(), streamed as
// it is written. src is called once per request so the caller can hand
// over the live store and an index snapshot function. When the backup
// fails after the first bytes were sent the connection is aborted, so the
// client sees a broken stream instead of a short archive that looks whole
// (a short archive also fails Verify).
func Handler(src func() BackupSource) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, `{"error":"method not allowed"}`, http.StatusMethodNotAllowed)
			return
		}
		name := "ventapp-backup-" + time.Now().UTC().Format("20060102T150405Z") + ".tar.gz"
		w.Header().Set("Content-Type", "application/gzip")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
		if r.Method == http.MethodHead {
			return
		}

		cw := &countingWriter{w: w}
		if err := Backup(r.Context(), cw, src()); err != nil {
			if cw.n == 0 {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Del("Content-Disposition")
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprintf(w, "{\"error\":%q}\n", "backup: "+err.Error())
				return
			}
			panic(http.ErrAbortHandler)
		}
	})
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
