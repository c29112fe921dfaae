package engine

// vent's home-directory files: the startup file, which installs, builds
// and starts the tools it lists when the daemon starts, and the plugin
// config file, which fills a tool's config/<folder>.config before it is
// built. Both are read from the home directory of the user the daemon
// runs as ($HOME; /root for the packaged service), or from vent.cfg
// [main] startup_file and plugin_config_file. The parsing is in
// plugins/startup.go.
//
// Where ventapp differs from vent on purpose: the startup file is applied
// once per content (its SHA-256 is kept in the data dir), not re-fetched
// and rebuilt on every start; vent.cfg values it sets act on this daemon
// (in memory) and are not written into vent.cfg; a tool that processes
// files and is marked start: yes is not started (it runs when a matching
// file is dropped) and the result says so.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ventapp/ventapp/plugins"
)

// Names of the home-directory files, as vent named them.
const (
	StartupFileName      = ".vent_startup.yml"
	PluginConfigFileName = ".plugin_config.yml"
)

// startupStateFile records the SHA-256 of the startup file last applied.
const startupStateFile = "startup.applied"

// StartupResult reports what applying a startup file did.
type StartupResult struct {
	File    string       `json:"file"`
	Repos   []RepoResult `json:"repos"`
	Started []ToolResult `json:"started,omitempty"`
	Notes   []string     `json:"notes,omitempty"`
}

// homeFile returns vent.cfg [main] key when set (with ~ expanded), else
// name in the daemon user's home directory.
func (e *Engine) homeFile(key, name string) (string, error) {
	if e.cfg.File != nil {
		if v := strings.TrimSpace(e.cfg.File.Section("main").Key(key).String()); v != "" {
			return expandTilde(v)
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("%s: no home directory: %w", name, err)
	}
	return filepath.Join(home, name), nil
}

func expandTilde(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("%s: no home directory: %w", p, err)
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
}

// StartupFile returns the startup file the daemon reads.
func (e *Engine) StartupFile() (string, error) { return e.homeFile("startup_file", StartupFileName) }

// PluginConfigFile returns the plugin config file the daemon reads.
func (e *Engine) PluginConfigFile() (string, error) {
	return e.homeFile("plugin_config_file", PluginConfigFileName)
}

// runStartup applies the startup file once containerd answers, unless the
// same content was applied before. Problems are logged: the daemon runs
// on without the file's tools.
func (e *Engine) runStartup(ctx context.Context) {
	path, err := e.StartupFile()
	if err != nil {
		e.log.Warn("startup file not read", "err", err)
		return
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		e.log.Error("startup file not read", "file", path, "err", err)
		return
	}
	sum := sha256.Sum256(data)
	stamp := hex.EncodeToString(sum[:])
	state := filepath.Join(e.cfg.DataDir, startupStateFile)
	if old, _ := os.ReadFile(state); strings.TrimSpace(string(old)) == stamp {
		e.log.Debug("startup file already applied", "file", path)
		return
	}
	s, err := plugins.ParseStartup(path, data)
	if err != nil {
		e.log.Error("startup file not applied", "err", err)
		return
	}

	for {
		if _, err := e.Containerd(); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	res, err := e.ApplyStartup(ctx, s, nil)
	if err != nil {
		e.log.Error("startup file not fully applied; it is tried again at the next start",
			"file", path, "err", err)
		return
	}
	for _, n := range res.Notes {
		e.log.Info("startup file", "file", path, "note", n)
	}
	if err := os.WriteFile(state, []byte(stamp+"\n"), 0o640); err != nil {
		e.log.Warn("startup file applied but not recorded; it is applied again at the next start", "err", err)
	}
	e.log.Info("startup file applied", "file", path, "repos", len(res.Repos), "started", len(res.Started))
}

// ApplyStartup does what a startup file asks: sets its vent.cfg values for
// this daemon, then for each repository fetches it, installs the listed
// tools with their template overrides and image names, builds them, and
// starts the service tools marked start: yes (all instances, in vent's
// start order). It stops at the first repository that cannot be fetched
// or installed; build failures are reported in the tools' results.
func (e *Engine) ApplyStartup(ctx context.Context, s *plugins.Startup,
	progress func(string)) (StartupResult, error) {
	res := StartupResult{File: s.File}
	res.Notes = append(res.Notes, e.applyVentCfg(s)...)

	var toStart []string
	for _, sr := range s.Repos {
		rr, start, err := e.startupRepo(ctx, s.File, sr, progress)
		res.Repos = append(res.Repos, rr)
		if err != nil {
			return res, err
		}
		for _, r := range rr.Tools {
			if r.Error != "" {
				res.Notes = append(res.Notes, fmt.Sprintf("%s: %s", r.Tool, r.Error))
			}
		}
		for _, name := range start {
			p, err := e.reg.Get(name)
			if err == nil && !IsService(p) {
				res.Notes = append(res.Notes, fmt.Sprintf("%s is marked start: yes but processes files "+
					"(ext_types %s); it runs when a matching file is dropped", name,
					strings.Join(p.Settings.ExtTypes, ",")))
				continue
			}
			toStart = append(toStart, name)
		}
	}
	if len(toStart) > 0 {
		res.Started = e.startTools(ctx, toStart, true)
	}
	return res, nil
}

// applyVentCfg sets the startup file's vent.cfg values in the engine's
// in-memory configuration; [build-options] use_existing_images takes
// effect for the builds that follow.
func (e *Engine) applyVentCfg(s *plugins.Startup) []string {
	var notes []string
	for _, v := range s.VentCfg {
		if e.cfg.File != nil {
			e.cfg.File.Section(v.Section).Key(v.Option).SetValue(v.Value)
		}
		if v.Section == "build-options" && v.Option == "use_existing_images" {
			live := *e.live()
			live.UseExistingImages = v.Value == "yes"
			e.liveCfg.Store(&live)
		}
		notes = append(notes, fmt.Sprintf("%s:%d: vent.cfg [%s] %s = %s set for this daemon "+
			"(vent.cfg itself is not rewritten)", s.File, v.Line, v.Section, v.Option, v.Value))
	}
	return notes
}

// startupRepo fetches one repository and installs its listed tools with
// their overrides; it returns the names of the tools marked start: yes.
func (e *Engine) startupRepo(ctx context.Context, file string, sr plugins.StartupRepo,
	progress func(string)) (RepoResult, []string, error) {
	names := make([]string, len(sr.Tools))
	for i, t := range sr.Tools {
		names[i] = t.Name
	}
	r, err := plugins.FetchRepo(ctx, e.cfg.DataDir, plugins.RepoOptions{
		URL: sr.URL, Branch: sr.Branch, Commit: sr.Version, Tools: names,
		Auth: plugins.CredentialsFromEnv(), Logger: e.log.With("part", "git"),
	})
	if err != nil {
		return RepoResult{}, nil, fmt.Errorf("%s:%d: %w", file, sr.Line, err)
	}
	found, err := r.Tools()
	if err != nil {
		return RepoResult{}, nil, fmt.Errorf("%s:%d: %w", file, sr.Line, err)
	}
	res := RepoResult{Repo: r.Canonical, Branch: r.Branch, Commit: r.Commit, Skipped: r.Skipped}

	var start []string
	base := filepath.Base(r.Dir)
	for _, p := range found {
		if old, err := e.reg.Get(p.Name); err == nil && old.Repo != p.Repo {
			return res, nil, fmt.Errorf("%s:%d: tool %q from %s: %w: the name is used by %s",
				file, sr.Line, p.Name, r.Canonical, plugins.ErrExists, old.Repo)
		}
		for i := range sr.Tools {
			t := &sr.Tools[i]
			if !t.Selects(p, base) {
				continue
			}
			if err := t.Apply(p, file); err != nil {
				return res, nil, err
			}
			if t.Start {
				start = append(start, p.Name)
			}
		}
		if err := e.FillPluginConfig(p); err != nil {
			return res, nil, err
		}
	}
	res.Tools, err = e.install(ctx, found, progress)
	return res, start, err
}

// FillPluginConfig writes the plugin config file's values for p's folder
// into p's config/<folder>.config when both exist, as vent did before a
// build; an environment variable named after an option wins over the
// file. A missing plugin config file or tool config file is not an error.
func (e *Engine) FillPluginConfig(p *plugins.Plugin) error {
	path, err := e.PluginConfigFile()
	if err != nil {
		return nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("plugin config file %s: %w", path, err)
	}
	pc, err := plugins.ParsePluginConfig(path, data)
	if err != nil {
		return err
	}

	folder := filepath.Base(p.Dir)
	target := filepath.Join(p.Dir, "config", folder+".config")
	if _, err := os.Lstat(target); err != nil {
		return nil
	}
	changed, err := pc.Fill(folder, target, os.LookupEnv)
	if err != nil {
		return err
	}
	if changed {
		e.log.Info("plugin config filled", "tool", p.Name, "file", target, "from", path)
	}
	return nil
}
