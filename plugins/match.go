package plugins

import (
	"path/filepath"
	"strings"
	"time"
)

// Matches reports whether p should run on the file at path, dropped under
// the folder dropRoot, by vent's rules:
//
//   - A file directly in dropRoot is a candidate unless [settings]
//     process_base is "no".
//   - A file in a subfolder is a candidate only when one of the
//     process_from_tool names, with spaces turned into "-", is found in the
//     folders between dropRoot and the file: inside the last folder name
//     that contains "UTC" (a tool output folder, see OutputDirName), or,
//     when no folder name contains "UTC", equal to one of the folder names.
//   - A candidate matches when path ends with one of the ext_types entries.
//     The test is case-sensitive and on the whole path; "pcap" matches
//     "x.pcap" and also "xpcap". A tool without ext_types never matches.
//
// Matches does not look at Enabled or Built; Match does. A path outside
// dropRoot never matches. vent looked at every folder of the container path,
// /files included; ventapp looks only below dropRoot.
func (p *Plugin) Matches(dropRoot, path string) bool {
	folders, ok := dropFolders(dropRoot, path)
	return ok && p.matches(folders, path)
}

// dropFolders returns the folders between dropRoot and the file at path
// (none for a file directly in dropRoot), and false when path is not below
// dropRoot.
func dropFolders(dropRoot, path string) ([]string, bool) {
	rel, err := filepath.Rel(filepath.Clean(dropRoot), filepath.Clean(path))
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, false
	}
	dir := filepath.Dir(rel)
	if dir == "." {
		return nil, true
	}
	return strings.Split(dir, string(filepath.Separator)), true
}

// matches applies the rules of Matches to a file below the drop root.
func (p *Plugin) matches(folders []string, path string) bool {
	f := &p.Settings
	candidate := f.ProcessBase
	if len(folders) > 0 {
		candidate = fromTool(f.ProcessFromTool, folders)
	}
	if !candidate {
		return false
	}

	for _, ext := range f.ExtTypes {
		if strings.HasSuffix(path, ext) {
			return true
		}
	}
	return false
}

// fromTool applies the process_from_tool rule to the folders between the
// drop root and the file.
func fromTool(tools, folders []string) bool {
	utc := ""
	for _, f := range folders {
		if strings.Contains(f, "UTC") {
			utc = f
		}
	}

	for _, tool := range tools {
		want := strings.ReplaceAll(tool, " ", "-")
		if utc != "" {
			if strings.Contains(utc, want) {
				return true
			}
			continue
		}
		for _, f := range folders {
			if f == want {
				return true
			}
		}
	}
	return false
}

// Match returns the plugins of ps that should run on path: those that are
// enabled, built and that Matches accepts, in the order of ps, each at most
// once (by Name). vent ran disabled and unbuilt tools too, and ran a tool
// once per matching ext_types entry and per instance; ventapp does not.
func Match(ps []*Plugin, dropRoot, path string) []*Plugin {
	folders, ok := dropFolders(dropRoot, path)
	if !ok {
		return nil
	}

	var out []*Plugin
	seen := map[string]bool{}
	for _, p := range ps {
		if p == nil || !p.Enabled || !p.Built || seen[p.Name] || !p.matches(folders, path) {
			continue
		}
		seen[p.Name] = true
		out = append(out, p)
	}
	return out
}

// OutputDirName returns the name of the folder a tool writes its output
// to, by the vent-plugins convention:
// "<link name with spaces turned into ->-<YYYY-MM-DD-HH_MM_SS.ffffff>-UTC",
// with the time in UTC, for example
// "tcprewrite-dot1q-2019-12-01-10_20_30.123456-UTC". Unlike Python's
// str(datetime), which vent's plugins used, the microseconds are always
// written, also when they are zero.
func OutputDirName(linkName string, t time.Time) string {
	return strings.ReplaceAll(linkName, " ", "-") + "-" +
		t.UTC().Format("2006-01-02-15_04_05.000000") + "-UTC"
}
