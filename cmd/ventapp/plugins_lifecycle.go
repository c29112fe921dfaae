package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/ventapp/ventapp/api"
	"github.com/ventapp/ventapp/containers"
	"github.com/ventapp/ventapp/engine"
	"github.com/ventapp/ventapp/plugins"
)

// toolActions runs start, stop, clean, remove, update or rollback on each
// named tool in turn and prints what happened; it fails when any did.
func toolActions(ctx context.Context, env *cliEnv, c *api.Client, act string, names []string, asJSON bool) error {
	if len(names) == 0 {
		return fmt.Errorf("%w: plugins %s needs at least one tool name", errUsage, act)
	}
	var results []engine.ToolResult
	failed := 0
	for _, name := range names {
		var r engine.ToolResult
		err := c.Do(ctx, "POST", "/api/v1/plugins/"+url.PathEscape(name)+"/"+act, nil, nil, &r)
		var se *api.StatusError
		if errors.As(err, &se) {
			r = engine.ToolResult{Tool: name, Error: se.Message}
		} else if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, r)
		if r.Error != "" {
			failed++
			if !asJSON {
				fmt.Fprintf(env.stdout, "%s: FAILED: %s\n", name, r.Error)
			}
			continue
		}
		if !asJSON {
			line := r.Done
			if len(r.Containers) > 0 {
				line += " (" + strings.Join(r.Containers, ", ") + ")"
			}
			fmt.Fprintf(env.stdout, "%s: %s\n", name, line)
		}
	}
	if asJSON {
		if err := env.printJSON(results); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("plugins %s failed for %d of %d tools", act, failed, len(names))
	}
	return nil
}

// configureTool opens the tool's template in $VISUAL or $EDITOR (default
// vi), and sends the edited text to the daemon, which checks it before
// applying it. A refused edit is kept in a file named in the error.
func configureTool(ctx context.Context, env *cliEnv, c *api.Client, name string) error {
	var cur bytes.Buffer
	if err := c.Get(ctx, "/api/v1/plugins/"+url.PathEscape(name)+"/template", nil, &cur); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	file, edited, err := editText(name, cur.String())
	if err != nil {
		return err
	}
	if edited == cur.String() {
		os.Remove(file)
		fmt.Fprintf(env.stdout, "%s: template unchanged\n", name)
		return nil
	}
	var p plugins.Plugin
	err = c.Do(ctx, "PUT", "/api/v1/plugins/"+url.PathEscape(name)+"/template", nil,
		strings.NewReader(edited), &p)
	if err != nil {
		return fmt.Errorf("%s: template not applied, nothing changed: %w (your edit is kept in %s)", name, err, file)
	}
	os.Remove(file)
	for _, w := range p.Warnings() {
		fmt.Fprintf(env.stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(env.stdout, "%s: template applied\n", name)
	return nil
}

// editText writes text to a temporary file, runs the user's editor on it
// and returns the file and what it holds afterwards.
func editText(name, text string) (file, edited string, err error) {
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	f, err := os.CreateTemp("", "ventapp-"+strings.NewReplacer("/", "_", "@", "_").Replace(name)+"-*.template")
	if err != nil {
		return "", "", err
	}
	file = f.Name()
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return file, "", err
	}

	// The editor value may carry arguments ("code --wait"), as git allows.
	cmd := exec.Command("/bin/sh", "-c", editor+` "$1"`, "editor", file)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return file, "", fmt.Errorf("editor %q on %s: %w", editor, file, err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return file, "", err
	}
	return file, string(data), nil
}

// listServices prints the running service tools and their addresses.
func listServices(ctx context.Context, env *cliEnv, c *api.Client, asJSON bool) error {
	var list []engine.ServiceInfo
	if err := c.Get(ctx, "/api/v1/services", nil, &list); err != nil {
		return err
	}
	if asJSON {
		return env.printJSON(list)
	}
	if len(list) == 0 {
		fmt.Fprintln(env.stdout, "no service tools are running")
		return nil
	}
	w := tabwriter.NewWriter(env.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "TOOL\tCONTAINER\tSTATE\tNETWORK\tURI")
	for _, s := range list {
		state := "running"
		if !s.Status.Running {
			state = fmt.Sprintf("restarting (exit %d)", s.Status.LastExit)
		}
		if len(s.URIs) == 0 {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t-\n", s.Tool, s.Container, state, s.Network)
		}
		for _, u := range s.URIs {
			uri := u.URI
			if u.User != "" {
				uri += " user:" + u.User
			}
			if u.Password != "" {
				uri += " pw:" + u.Password
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.Tool, s.Container, state, s.Network, uri)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, s := range list {
		if s.Note != "" {
			fmt.Fprintf(env.stderr, "note: %s: %s\n", s.Container, s.Note)
		}
	}
	return nil
}

// toolLogs prints a service tool's log; follow keeps printing new output
// until interrupted.
func toolLogs(ctx context.Context, env *cliEnv, c *api.Client, name string, follow bool) error {
	q := url.Values{}
	if follow {
		q.Set("follow", "1")
	}
	err := c.Get(ctx, "/api/v1/plugins/"+url.PathEscape(name)+"/logs", q, env.stdout)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s: the daemon ended the log stream (stopped or restarted?): %w", name, err)
	}
	return err
}

// exportTools writes an offline bundle of the named tools to out.
func exportTools(ctx context.Context, env *cliEnv, c *api.Client, names []string, out string) error {
	if len(names) == 0 || out == "" {
		return fmt.Errorf("%w: plugins export TOOL... -o bundle.tar", errUsage)
	}
	q := url.Values{"tool": names}
	if err := downloadTo(ctx, env, c, "/api/v1/plugins/export", q, out); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "wrote %s (%s)\n", out, strings.Join(names, ", "))
	return nil
}

// importTools installs the tools of an offline bundle.
func importTools(ctx context.Context, env *cliEnv, c *api.Client, file string, asJSON bool) error {
	f, size, err := openUpload(file, "plugin bundle")
	if err != nil {
		return err
	}
	defer f.Close()
	var res []engine.AddResult
	p := newProgress(env.stderr, "importing "+file, size)
	err = c.Do(ctx, "POST", "/api/v1/plugins/import", nil, p.reader(f), &res)
	p.finish(result(err))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if asJSON {
		return env.printJSON(res)
	}
	for _, r := range res {
		fmt.Fprintf(env.stdout, "%s\timported with image %s (%s)\n", r.Tool, r.Image, short(r.Digest))
	}
	return nil
}

// exportImages writes the named images to out as one OCI tar.
func exportImages(ctx context.Context, env *cliEnv, c *api.Client, refs []string, out string) error {
	if len(refs) == 0 || out == "" {
		return fmt.Errorf("%w: images export IMAGE... -o images.tar", errUsage)
	}
	if err := downloadTo(ctx, env, c, "/api/v1/images/export", url.Values{"ref": refs}, out); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "wrote %s (%s)\n", out, strings.Join(refs, ", "))
	return nil
}

// removeImages deletes the named images.
func removeImages(ctx context.Context, env *cliEnv, c *api.Client, refs []string) error {
	if len(refs) == 0 {
		return fmt.Errorf("%w: images rm IMAGE...", errUsage)
	}
	for _, ref := range refs {
		if err := c.Do(ctx, "DELETE", "/api/v1/images", url.Values{"ref": {ref}}, nil, nil); err != nil {
			return fmt.Errorf("%s: %w", ref, err)
		}
		fmt.Fprintf(env.stdout, "removed %s\n", ref)
	}
	return nil
}

// pullImages pulls images from their registries.
func pullImages(ctx context.Context, env *cliEnv, c *api.Client, refs []string) error {
	if len(refs) == 0 {
		return fmt.Errorf("%w: images pull IMAGE...", errUsage)
	}
	for _, ref := range refs {
		var info containers.ImageInfo
		if err := c.PostJSON(ctx, "/api/v1/images/pull", api.PullRequest{Ref: ref}, &info); err != nil {
			return fmt.Errorf("%s: %w", ref, err)
		}
		fmt.Fprintf(env.stdout, "pulled %s (%s)\n", info.Name, short(info.Digest))
	}
	return nil
}

// downloadTo saves a GET answer to path through a temporary file, so a
// failed download leaves no partial file.
func downloadTo(ctx context.Context, env *cliEnv, c *api.Client, route string, q url.Values, path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	p := newProgress(env.stderr, "writing "+path, 0)
	err = c.Get(ctx, route, q, p.writer(tmp))
	p.finish(result(err))
	if err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
