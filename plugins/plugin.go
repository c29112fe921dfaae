package plugins

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// LocalImageOrg is the image namespace of tools loaded from local folders:
// their images are named ventapp-local/<name>:latest.
const LocalImageOrg = "ventapp-local"

// Plugin is one vent-style tool: a Dockerfile and its template. Registries
// persist it as JSON; the template text is stored too, so a registered
// plugin survives the removal of its source folder.
type Plugin struct {
	// Name is the tool id: the lower-cased folder name, or "<dir>@<suffix>"
	// for one of several Dockerfile.<suffix> in a folder.
	Name string `json:"name"`

	// LinkName is [info] name (default: the folder name). Other tools name
	// it in process_from_tool, and output folders are named after it.
	LinkName string `json:"link_name"`

	// Dir is the absolute source folder.
	Dir string `json:"dir"`

	// Dockerfile is the absolute path of the tool's Dockerfile.
	Dockerfile string `json:"dockerfile"`

	// TemplatePath is the absolute path of the template file.
	TemplatePath string `json:"template_path"`

	// Template is the raw template text as read when the tool was loaded.
	Template string `json:"template"`

	// Repo is where the tool came from: "local:" + Dir for local folders.
	Repo string `json:"repo"`

	// RepoURL is the URL the tool's repository was cloned from, without
	// credentials and with its case kept; empty for local folders.
	RepoURL string `json:"repo_url,omitempty"`

	// RelPath is the tool folder relative to the repository root, with a
	// leading "/" ("/" for the root); empty for local folders.
	RelPath string `json:"rel_path,omitempty"`

	// Branch is the repository branch the tool was read from; empty for
	// local folders.
	Branch string `json:"branch,omitempty"`

	// Commit is the full hash of the commit the tool was read from; empty
	// for local folders.
	Commit string `json:"commit,omitempty"`

	// Image is the image reference the tool is built as.
	Image string `json:"image"`

	// Groups is [info] groups.
	Groups []string `json:"groups,omitempty"`

	// Enabled reports whether the tool may run. New tools are enabled.
	Enabled bool `json:"enabled"`

	// Built reports whether Image has been built.
	Built bool `json:"built"`

	// ImageDigest is the digest of the built image ("sha256:..."), set with
	// Built.
	ImageDigest string `json:"image_digest,omitempty"`

	// BuildError says why the last build failed; empty after a successful
	// build or when none was tried.
	BuildError string `json:"build_error,omitempty"`

	// AddedAt is when the tool was loaded.
	AddedAt time.Time `json:"added_at"`

	// BuiltAt is when Image was last built; zero when never.
	BuiltAt time.Time `json:"built_at,omitzero"`

	// Settings are the typed template values.
	Settings Settings `json:"settings"`
}

// Clone returns a deep copy of p.
func (p *Plugin) Clone() *Plugin {
	c := *p
	c.Groups = slices.Clone(p.Groups)
	c.Settings = p.Settings.clone()
	return &c
}

// clone returns a deep copy of s.
func (s Settings) clone() Settings {
	c := s
	c.Info.Groups = slices.Clone(s.Info.Groups)
	c.ExtTypes = slices.Clone(s.ExtTypes)
	c.ProcessFromTool = slices.Clone(s.ProcessFromTool)
	c.Priority = slices.Clone(s.Priority)
	c.Docker.Command = slices.Clone(s.Docker.Command)
	c.Docker.Environment = slices.Clone(s.Docker.Environment)
	c.Docker.Volumes = slices.Clone(s.Docker.Volumes)
	c.Docker.Unsupported = slices.Clone(s.Docker.Unsupported)
	c.Labels = maps.Clone(s.Labels)
	c.Warnings = slices.Clone(s.Warnings)
	return c
}

// Warnings returns the template warnings found when the tool was loaded
// (or when the registry was opened): ignored sections and keys, and values
// read differently from vent.
func (p *Plugin) Warnings() []string { return slices.Clone(p.Settings.Warnings) }

// ImageLabels returns the labels vent put on the images it built:
// "vent" (empty), "vent.name" (LinkName), "vent.groups" (the comma list,
// or "none"), "vent.repo", "vent.type" and "vent.section" (the section
// name WriteManifest gives the tool).
func (p *Plugin) ImageLabels() map[string]string {
	groups := strings.Join(p.Groups, ",")
	if groups == "" {
		groups = "none"
	}
	return map[string]string{
		"vent":         "",
		"vent.name":    p.LinkName,
		"vent.groups":  groups,
		"vent.repo":    imageRepoLabel(p.Repo),
		"vent.type":    "repository",
		"vent.section": manifestSection(p),
	}
}

// imageRepoLabel is the vent.repo label of an image: the repository, or
// for a local folder "local:" and the folder's name without the path, so
// that building the same files from another place (a restored source, a
// copy) gives the same image.
func imageRepoLabel(repo string) string {
	if dir, ok := strings.CutPrefix(repo, "local:"); ok {
		return "local:" + filepath.Base(dir)
	}
	return repo
}

// multiTool reports whether p is one of several tools in its folder.
func (p *Plugin) multiTool() bool { return strings.Contains(p.Name, "@") }

// LoadDir loads the tool or tools of one local folder.
//
// A folder with a plain Dockerfile and no Dockerfile.<suffix> is one tool
// described by vent.template. A folder with Dockerfile.<suffix> files holds
// one tool per Dockerfile, named "<dir>@<suffix>" and described by
// <suffix>.template; a plain Dockerfile next to them is the tool
// "<dir>@unspecified", described by unspecified.template or, when that is
// absent, vent.template. Other files whose names start with "Dockerfile"
// are ignored. The tools are returned sorted by name.
func LoadDir(dir string) ([]*Plugin, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("plugin folder %s: %w", dir, err)
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return nil, fmt.Errorf("plugin folder %s: %w", abs, err)
	}

	suffixes, plain := dockerfiles(entries)
	base := strings.ToLower(filepath.Base(abs))
	if base == "/" || base == "." {
		return nil, fmt.Errorf("plugin folder %s: a tool folder needs a name", abs)
	}

	var tools []toolFiles
	switch {
	case len(suffixes) == 0 && !plain:
		return nil, fmt.Errorf("%w in plugin folder %s (want Dockerfile or Dockerfile.<name>)",
			ErrNoDockerfile, abs)
	case len(suffixes) == 0:
		tools = append(tools, toolFiles{name: base, dockerfile: "Dockerfile",
			templates: []string{"vent.template"}})
	default:
		tools = multiTools(base, suffixes, plain)
	}

	var out []*Plugin
	seen := map[string]string{}
	for _, tf := range tools {
		if other, dup := seen[tf.name]; dup {
			return nil, fmt.Errorf("%w: plugin folder %s: %s and %s both give the tool name %s",
				ErrSetting, abs, other, tf.dockerfile, tf.name)
		}
		seen[tf.name] = tf.dockerfile

		p, err := loadTool(abs, tf)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// toolFiles names the files of one tool in a folder.
type toolFiles struct {
	name       string
	dockerfile string
	templates  []string // candidates, first existing wins
}

// dockerfiles finds the Dockerfile.<suffix> suffixes and whether a plain
// Dockerfile exists.
func dockerfiles(entries []fs.DirEntry) (suffixes []string, plain bool) {
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		switch name := e.Name(); {
		case name == "Dockerfile":
			plain = true
		case strings.HasPrefix(name, "Dockerfile.") && len(name) > len("Dockerfile."):
			suffixes = append(suffixes, strings.TrimPrefix(name, "Dockerfile."))
		}
	}
	sort.Strings(suffixes)
	return suffixes, plain
}

// multiTools lists the tools of a folder with several Dockerfiles.
func multiTools(base string, suffixes []string, plain bool) []toolFiles {
	var tools []toolFiles
	for _, sfx := range suffixes {
		tools = append(tools, toolFiles{
			name:       base + "@" + strings.ToLower(sfx),
			dockerfile: "Dockerfile." + sfx,
			templates:  []string{sfx + ".template"},
		})
	}
	if plain {
		tools = append(tools, toolFiles{
			name:       base + "@unspecified",
			dockerfile: "Dockerfile",
			templates:  []string{"unspecified.template", "vent.template"},
		})
	}
	return tools
}

// loadTool reads and checks one tool's template.
func loadTool(dir string, tf toolFiles) (*Plugin, error) {
	var (
		tplPath string
		data    []byte
		err     error
	)
	for _, name := range tf.templates {
		tplPath = filepath.Join(dir, name)
		if data, err = os.ReadFile(tplPath); !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: plugin folder %s: %s needs %s: %w",
			ErrTemplate, dir, tf.dockerfile, strings.Join(tf.templates, " or "), err)
	}

	tpl, err := ParseTemplate(tplPath, data)
	if err != nil {
		return nil, err
	}
	settings, err := ParseSettings(tpl, filepath.Base(dir))
	if err != nil {
		return nil, err
	}

	image := ImageName(LocalImageOrg, tf.name, "", "latest")
	if !validImage(image) {
		return nil, fmt.Errorf("%w: plugin folder %s: tool name %q gives the image name %q, "+
			"which is not a valid image reference; rename the folder",
			ErrSetting, dir, tf.name, image)
	}

	return &Plugin{
		Name:         tf.name,
		LinkName:     settings.Info.Name,
		Dir:          dir,
		Dockerfile:   filepath.Join(dir, tf.dockerfile),
		TemplatePath: tplPath,
		Template:     string(data),
		Repo:         "local:" + dir,
		Image:        image,
		Groups:       slices.Clone(settings.Info.Groups),
		Enabled:      true,
		AddedAt:      time.Now().UTC(),
		Settings:     settings,
	}, nil
}

// ImageName builds an image reference with vent's scheme:
// "<org>/<repo>[-<subdir parts joined by ->]:<branch>", lower-cased, with
// "_" and "@" turned into "-". An empty or "/" subdir adds nothing; an
// empty branch becomes "latest". For example ("cyberreboot", "vent-plugins",
// "pcap_stats", "master") gives "cyberreboot/vent-plugins-pcap-stats:master".
// The result is not checked against the image reference grammar.
func ImageName(org, repo, subdir, branch string) string {
	name := repo
	for _, part := range strings.Split(subdir, "/") {
		if part != "" {
			name += "-" + part
		}
	}
	if branch == "" {
		branch = "latest"
	}

	ref := org + "/" + name + ":" + branch
	ref = strings.ToLower(ref)
	return strings.NewReplacer("_", "-", "@", "-").Replace(ref)
}

// imageRef matches "<path>:<tag>" with the OCI distribution grammar for
// lower-case repository paths.
var imageRef = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*` +
	`(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// validImage reports whether ref is a valid "<path>:<tag>" reference.
func validImage(ref string) bool { return len(ref) <= 255 && imageRef.MatchString(ref) }
