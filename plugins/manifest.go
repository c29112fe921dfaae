package plugins

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
)

// manifestKeys are the keys WriteManifest writes for every plugin, in
// order. A template section with one of these names is left out.
var manifestKeys = []string{
	"name", "namespace", "path", "repo", "multi_tool", "branch", "version",
	"last_updated", "image_name", "type", "link_name", "groups", "built",
	"image_id", "running", "enabled",
}

// WriteManifest writes the registry in the form of vent's
// plugin_manifest.cfg: one INI section per plugin, named
// "<org>:<repo>:<relpath>:<branch>:<version>", with vent's keys and each
// template section as a JSON object of its raw values. built is "yes",
// "failed" (BuildError is set) or "no".
//
// For a local plugin the org is ventapp-local, the repo is the folder name,
// relpath is "/" (or "/@<suffix>" for one of several Dockerfiles), branch
// is "latest" (the image tag) and version is "HEAD", matching the image
// name ventapp-local/<name>:latest. For other plugins org and repo are the
// last two parts of Repo and relpath is "/<name>". The key name holds the
// folder name, or the suffix for one of several Dockerfiles, as in vent.
// running is always "no": the registry does not know which containers run.
// Extra sections for instances, which vent wrote, are not written, because
// ventapp does not start one container per instance.
func (r *Registry) WriteManifest(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for i, p := range r.List() {
		if i > 0 {
			_ = bw.WriteByte('\n')
		}
		r.writeManifestSection(bw, p)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write plugin manifest: %w", err)
	}
	return nil
}

// writeManifestSection writes one plugin's section.
func (r *Registry) writeManifestSection(w *bufio.Writer, p *Plugin) {
	org, repo, _, name := manifestIdentity(p)

	stamp := p.AddedAt
	if !p.BuiltAt.IsZero() {
		stamp = p.BuiltAt
	}
	imageID := strings.TrimPrefix(p.ImageDigest, "sha256:")
	imageID = imageID[:min(12, len(imageID))]

	values := map[string]string{
		"name":         name,
		"namespace":    org + "/" + repo,
		"path":         p.Dir,
		"repo":         p.Repo,
		"multi_tool":   yesNo(p.multiTool()),
		"branch":       manifestBranch,
		"version":      manifestVersion,
		"last_updated": stamp.UTC().Format("2006-01-02 15:04:05.000000") + " UTC",
		"image_name":   p.Image,
		"type":         "repository",
		"link_name":    p.LinkName,
		"groups":       strings.Join(p.Groups, ","),
		"built":        builtValue(p),
		"image_id":     imageID,
		"running":      "no",
		"enabled":      yesNo(p.Enabled),
	}

	fmt.Fprintf(w, "[%s]\n", manifestSection(p))
	for _, k := range manifestKeys {
		writeManifestValue(w, k, values[k])
	}

	tpl, err := ParseTemplate(p.TemplatePath, []byte(p.Template))
	if err != nil {
		r.log.Warn("plugin manifest: template sections left out", "plugin", p.Name, "err", err)
		return
	}
	for _, s := range tpl.Sections() {
		if slices.Contains(manifestKeys, s) || strings.ContainsAny(s, "=[") || strings.HasPrefix(s, "#") ||
			strings.HasPrefix(s, ";") {
			r.log.Warn("plugin manifest: template section left out, its name cannot be a key",
				"plugin", p.Name, "section", s)
			continue
		}
		writeManifestValue(w, s, sectionJSON(tpl, s))
	}
}

// writeManifestValue writes one "key = value" line.
func writeManifestValue(w *bufio.Writer, key, value string) {
	if value == "" {
		fmt.Fprintf(w, "%s =\n", key)
		return
	}
	fmt.Fprintf(w, "%s = %s\n", key, value)
}

// The branch and version written for every plugin.
const manifestBranch, manifestVersion = "latest", "HEAD"

// manifestSection returns the manifest section name of p,
// "<org>:<repo>:<relpath>:<branch>:<version>".
func manifestSection(p *Plugin) string {
	org, repo, relpath, _ := manifestIdentity(p)
	return strings.Join([]string{org, repo, relpath, manifestBranch, manifestVersion}, ":")
}

// builtValue is the manifest's built key: yes, failed (the last build
// failed) or no, as in vent.
func builtValue(p *Plugin) string {
	switch {
	case p.Built:
		return "yes"
	case p.BuildError != "":
		return "failed"
	}
	return "no"
}

// manifestIdentity returns the org, repo, relpath and name of p's section.
func manifestIdentity(p *Plugin) (org, repo, relpath, name string) {
	base, suffix, multi := strings.Cut(p.Name, "@")
	relpath, name = "/", path.Base(p.Dir)
	if multi {
		relpath, name = "/@"+suffix, suffix
	}

	if strings.HasPrefix(p.Repo, "local:") {
		return LocalImageOrg, base, relpath, name
	}

	parts := strings.Split(strings.TrimSuffix(strings.TrimRight(p.Repo, "/"), ".git"), "/")
	org, repo = "unknown", parts[len(parts)-1]
	if len(parts) >= 2 {
		org = parts[len(parts)-2]
	}
	return org, repo, "/" + p.Name, name
}

// sectionJSON encodes a template section as a JSON object of raw strings,
// keys in file order, spaced like Python's json.dumps.
func sectionJSON(t *Template, section string) string {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range t.Keys(section) {
		if i > 0 {
			b.WriteString(", ")
		}
		v, _ := t.Get(section, k)
		b.WriteString(jsonString(k))
		b.WriteString(": ")
		b.WriteString(jsonString(v))
	}
	b.WriteByte('}')
	return b.String()
}

// jsonString encodes s as a JSON string without HTML escaping.
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // encoding a string cannot fail
	return strings.TrimSuffix(b.String(), "\n")
}

// yesNo returns "yes" or "no".
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
