package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"
)

// journalHandler writes slog text lines prefixed with their syslog
// priority (sd-daemon(3) style), which journald reads from stderr.
type journalHandler struct {
	inner slog.Handler
	out   *journalOut
}

// journalOut is shared by a handler and the handlers derived from it.
type journalOut struct {
	mu  sync.Mutex
	w   io.Writer
	buf bytes.Buffer
}

func newJournalHandler(w io.Writer, opts *slog.HandlerOptions) *journalHandler {
	out := &journalOut{w: w}
	return &journalHandler{inner: slog.NewTextHandler(&out.buf, opts), out: out}
}

func (h *journalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()

	h.out.buf.Reset()
	if err := h.inner.Handle(ctx, r); err != nil {
		return err
	}
	_, err := h.out.w.Write(append([]byte(priority(r.Level)), h.out.buf.Bytes()...))
	return err
}

func (h *journalHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &journalHandler{inner: h.inner.WithAttrs(attrs), out: h.out}
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	return &journalHandler{inner: h.inner.WithGroup(name), out: h.out}
}

// priority maps a slog level to a syslog priority prefix.
func priority(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "<3>"
	case l >= slog.LevelWarn:
		return "<4>"
	case l >= slog.LevelInfo:
		return "<6>"
	default:
		return "<7>"
	}
}
