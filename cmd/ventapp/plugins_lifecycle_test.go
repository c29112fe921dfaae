package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ventapp/ventapp/api"
	"github.com/ventapp/ventapp/plugins"
)

// fakeTemplates serves GET and PUT of one tool's template on a Unix
// socket; a PUT whose text holds "bad" is refused as the daemon refuses an
// invalid template.
func fakeTemplates(t *testing.T, text *string) *api.Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	serveTemplates(t, sock, text)
	return api.NewClient(sock)
}

// serveTemplates is fakeTemplates on the socket path sock.
func serveTemplates(t *testing.T, sock string, text *string) {
	t.Helper()
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/plugins/web/template", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, *text)
	})
	mux.HandleFunc("PUT /api/v1/plugins/web/template", func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		if strings.Contains(string(data), "bad") {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(api.Error{Error: "template vent.template:3: a line without ="})
			return
		}
		*text = string(data)
		json.NewEncoder(w).Encode(plugins.Plugin{Name: "web"})
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

func TestConfigureWithEditor(t *testing.T) {
	dir := t.TempDir()
	editor := filepath.Join(dir, "editor.sh")
	text := "[info]\nname = web\n[settings]\ninstances = 1\n"
	c := fakeTemplates(t, &text)
	t.Setenv("VISUAL", "")
	t.Setenv("TMPDIR", dir) // refused edits are kept there

	tests := []struct {
		name, script string
		wantErr      bool
		want         string // template on the daemon afterwards
		wantOut      string
	}{
		{"no change", "true", false, text, "unchanged"},
		{"valid edit", `sed -i 's/instances = 1/instances = 3/' "$1"`, false,
			"[info]\nname = web\n[settings]\ninstances = 3\n", "applied"},
		{"invalid edit is refused", `echo bad line >> "$1"`, true,
			"[info]\nname = web\n[settings]\ninstances = 3\n", ""},
		{"editor fails", "exit 1", true, "[info]\nname = web\n[settings]\ninstances = 3\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.WriteFile(editor, []byte("#!/bin/sh\n"+tt.script+"\n"), 0o755)
			t.Setenv("EDITOR", editor)
			var stdout, stderr bytes.Buffer
			env := &cliEnv{stdout: &stdout, stderr: &stderr}
			err := configureTool(context.Background(), env, c, "web")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if text != tt.want {
				t.Errorf("daemon template %q, want %q", text, tt.want)
			}
			if !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("output %q lacks %q", stdout.String(), tt.wantOut)
			}
			if tt.name == "invalid edit is refused" && !strings.Contains(err.Error(), "your edit is kept in") {
				t.Errorf("error does not say where the edit is: %v", err)
			}
		})
	}
}

func TestLifecycleUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := &cliEnv{stdout: &stdout, stderr: &stderr}
	c := api.NewClient(filepath.Join(t.TempDir(), "none.sock"))
	ctx := context.Background()
	for name, err := range map[string]error{
		"start without names":  toolActions(ctx, env, c, "start", nil, false),
		"export without -o":    exportTools(ctx, env, c, []string{"x"}, ""),
		"images rm no names":   removeImages(ctx, env, c, nil),
		"images export no -o":  exportImages(ctx, env, c, []string{"a"}, ""),
		"images pull no names": pullImages(ctx, env, c, nil),
	} {
		if err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("%s: %v, want a usage error", name, err)
		}
	}
}
