// Command mkpkg builds ventapp's .deb and .rpm packages with nfpm.
//
// It takes the already built binary, the embedded defaults (config/default.cfg)
// and the files in packaging/, generates the commented /etc/ventapp/vent.cfg,
// the Debian copyright file and changelog, and writes one package per format:
//
//	go run ./cmd/mkpkg -bin ../bin/ventapp -version 1.2.3 -commit abc1234 \
//	    -defaults ../config/default.cfg -out ../dist -formats deb,rpm
//
// It runs from the packaging folder (its own Go module, so nfpm's
// dependencies stay out of ventapp's go.mod).
package main

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm"
)

// Package metadata.
const (
	pkgName           = "ventapp"
	defaultMaintainer = "ventapp developers <ventapp@example.org>"
	homepage          = "https://github.com/ventapp/ventapp"
	license           = "Apache-2.0"
	summary           = "network-traffic analysis appliance running vent-style plugins on containerd"
	description       = summary + "\n" +
		"ventapp watches a drop folder for capture files, queues each file durably\n" +
		"for every plugin that claims it, runs the plugins as containerd containers\n" +
		"and makes their output searchable. It re-implements CyberReboot's vent as\n" +
		"one static binary without Docker."
)

func main() {
	o := options{}
	flag.StringVar(&o.bin, "bin", "../bin/ventapp", "the ventapp binary to package")
	flag.StringVar(&o.version, "version", "", "version (git describe output is accepted)")
	flag.StringVar(&o.commit, "commit", "unknown", "commit the binary was built from")
	flag.StringVar(&o.arch, "arch", runtime.GOARCH, "Go architecture of the binary")
	flag.StringVar(&o.defaults, "defaults", "../config/default.cfg", "the embedded default vent.cfg")
	flag.StringVar(&o.dir, "dir", ".", "the packaging folder (unit file, deb/ and rpm/ scripts)")
	flag.StringVar(&o.out, "out", "../dist", "folder for the packages")
	flag.StringVar(&o.formats, "formats", "deb,rpm", "comma-separated package formats")
	flag.StringVar(&o.maintainer, "maintainer", defaultMaintainer, "the Maintainer field: name <email>")
	flag.Parse()

	paths, err := build(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkpkg: %v\n", err)
		os.Exit(1)
	}
	for _, p := range paths {
		fmt.Println(p)
	}
}

type options struct {
	bin, version, commit, arch, defaults, dir, out, formats, maintainer string
}

// build writes every requested package and returns their paths.
func build(o options) ([]string, error) {
	version := packageVersion(o.version)
	deps, rpmDeps, err := depends(o.bin)
	if err != nil {
		return nil, err
	}
	defaults, err := os.ReadFile(o.defaults)
	if err != nil {
		return nil, fmt.Errorf("defaults: %w", err)
	}
	gen, err := os.MkdirTemp("", "mkpkg-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(gen)

	cfgFile := filepath.Join(gen, "vent.cfg")
	copyright := filepath.Join(gen, "copyright")
	changelog := filepath.Join(gen, "changelog.Debian.gz")
	if err := os.WriteFile(cfgFile, commentedConfig(defaults), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(copyright, []byte(copyrightText), 0o644); err != nil {
		return nil, err
	}
	if err := writeChangelog(changelog, version, o.commit, o.maintainer); err != nil {
		return nil, err
	}
	manPage := filepath.Join(gen, "ventapp.1.gz")
	if err := writeManPage(filepath.Join(o.dir, "ventapp.1"), manPage); err != nil {
		return nil, err
	}

	mtime := time.Unix(sourceDateEpoch(), 0).UTC()
	file := func(src, dst string, mode os.FileMode) *files.Content {
		return &files.Content{Source: src, Destination: dst,
			FileInfo: &files.ContentFileInfo{Mode: mode, MTime: mtime}}
	}
	contents := files.Contents{
		file(o.bin, "/usr/bin/ventapp", 0o755),
		{Source: cfgFile, Destination: "/etc/ventapp/vent.cfg", Type: files.TypeConfigNoReplace,
			FileInfo: &files.ContentFileInfo{Mode: 0o644, MTime: mtime}},
		{Destination: "/var/lib/ventapp", Type: files.TypeDir,
			FileInfo: &files.ContentFileInfo{Mode: 0o750, MTime: mtime}},
	}
	unit := filepath.Join(o.dir, "ventapp.service")
	debUnit := file(unit, "/lib/systemd/system/ventapp.service", 0o644)
	debUnit.Packager = "deb"
	rpmUnit := file(unit, "/usr/lib/systemd/system/ventapp.service", 0o644)
	rpmUnit.Packager = "rpm"
	cr := file(copyright, "/usr/share/doc/ventapp/copyright", 0o644)
	cr.Packager = "deb"
	cl := file(changelog, "/usr/share/doc/ventapp/changelog.Debian.gz", 0o644)
	cl.Packager = "deb"
	ov := file(filepath.Join(o.dir, "deb", "lintian-overrides"), "/usr/share/lintian/overrides/ventapp", 0o644)
	ov.Packager = "deb"
	man := file(manPage, "/usr/share/man/man1/ventapp.1.gz", 0o644)
	contents = append(contents, debUnit, rpmUnit, cr, cl, ov, man)

	script := func(format, name string) string { return filepath.Join(o.dir, format, name) }
	cfg := nfpm.Config{
		Info: nfpm.Info{
			Name: pkgName, Arch: o.arch, Platform: "linux", Version: version, VersionSchema: "none",
			Release: "1", Section: "net", Priority: "optional", Maintainer: o.maintainer,
			Description: description, Vendor: "ventapp", Homepage: homepage, License: license, MTime: mtime,
			Overridables: nfpm.Overridables{
				Depends:  deps,
				Contents: contents,
				RPM:      nfpm.RPM{Summary: summary, Group: "Applications/System", Compression: "gzip"},
				Deb:      nfpm.Deb{Compression: "xz"},
			},
		},
		Overrides: map[string]*nfpm.Overridables{
			"deb": {Depends: deps, Scripts: nfpm.Scripts{
				PostInstall: script("deb", "postinst"),
				PreRemove:   script("deb", "prerm"),
				PostRemove:  script("deb", "postrm"),
			}},
			"rpm": {Depends: rpmDeps, Scripts: nfpm.Scripts{
				PostInstall: script("rpm", "post.sh"),
				PreRemove:   script("rpm", "preun.sh"),
				PostRemove:  script("rpm", "postun.sh"),
			}},
		},
	}

	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, err
	}
	var out []string
	for _, format := range strings.Split(o.formats, ",") {
		p, err := writePackage(&cfg, strings.TrimSpace(format), o.out)
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

// writePackage builds one package format into dir.
func writePackage(cfg *nfpm.Config, format, dir string) (string, error) {
	pkgr, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	info, err := cfg.Get(format)
	if err != nil {
		return "", err
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return "", fmt.Errorf("%s: %w", format, err)
	}
	path := filepath.Join(dir, pkgr.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := pkgr.Package(info, f); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("%s: %w", format, err)
	}
	return path, f.Close()
}

var describe = regexp.MustCompile(`^v?(\d+(?:\.\d+)*)(?:-(\d+)-g([0-9a-f]+))?(-dirty)?$`)

// packageVersion turns `git describe` output into a version that dpkg
// and rpm both order correctly: v1.2.3 → 1.2.3, v1.2.3-4-gabc → 1.2.3+4.gabc,
// a bare commit or "dev" → 0.0.0+git.<it>. A dirty tree adds .dirty.
func packageVersion(v string) string {
	if m := describe.FindStringSubmatch(v); m != nil {
		out := m[1]
		if m[2] != "" {
			out += "+" + m[2] + ".g" + m[3]
		}
		if m[4] != "" {
			if m[2] == "" {
				out += "+dirty"
			} else {
				out += ".dirty"
			}
		}
		return out
	}
	clean := regexp.MustCompile(`[^0-9A-Za-z.]+`).ReplaceAllString(v, ".")
	if clean == "" {
		clean = "unknown"
	}
	return "0.0.0+git." + strings.Trim(clean, ".")
}

// depends lists the package dependencies, with Debian's and the rpm
// distributions' names: containerd and runc always, and the C library and
// libpcap runtime when the binary links them (a cgo build).
func depends(bin string) (deb, rpm []string, err error) {
	deb = []string{"containerd", "runc"}
	rpm = []string{"containerd", "runc"}
	f, err := elf.Open(bin)
	if err != nil {
		return nil, nil, fmt.Errorf("binary %s: %w", bin, err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil, nil, fmt.Errorf("binary %s: %w", bin, err)
	}
	for _, l := range libs {
		switch {
		case strings.HasPrefix(l, "libc.so"):
			deb = append(deb, "libc6")
			rpm = append(rpm, "glibc")
		case strings.HasPrefix(l, "libpcap.so"):
			deb = append(deb, "libpcap0.8")
			rpm = append(rpm, "libpcap")
		}
	}
	return deb, rpm, nil
}

// commentedConfig turns the defaults into the shipped /etc/ventapp/vent.cfg:
// the same text with every key commented out, so the file documents the
// defaults while the binary's embedded values stay in force (and a newer
// version's defaults apply after an upgrade that keeps this file).
func commentedConfig(defaults []byte) []byte {
	var b bytes.Buffer
	b.WriteString("# /etc/ventapp/vent.cfg: ventapp's configuration.\n" +
		"#\n# Every key below is commented out and shows its default, which is built\n" +
		"# into ventapp (`ventapp config default` prints them). Uncomment and change\n" +
		"# a key to override it, then `systemctl reload ventapp`.\n#\n")
	for _, line := range strings.Split(strings.TrimRight(string(defaults), "\n"), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && t[0] != '#' && t[0] != ';' && t[0] != '[' {
			line = "#" + line
		}
		b.WriteString(line + "\n")
	}
	return b.Bytes()
}

// writeChangelog writes a one-entry Debian changelog, gzip-compressed at
// the highest level without a name or time in the gzip header.
func writeChangelog(path, version, commit, maintainer string) error {
	date := time.Unix(sourceDateEpoch(), 0).UTC().Format(time.RFC1123Z)
	text := fmt.Sprintf("%s (%s-1) unstable; urgency=medium\n\n"+
		"  * Package built from commit %s.\n\n -- %s  %s\n", pkgName, version, commit, maintainer, date)
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	zw.Write([]byte(text))
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// writeManPage gzips the man page at src into dst, reproducibly.
func writeManPage(src, dst string) error {
	text, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	zw.Write(text)
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(dst, buf.Bytes(), 0o644)
}

// sourceDateEpoch is SOURCE_DATE_EPOCH when set (reproducible builds), else now.
func sourceDateEpoch() int64 {
	var n int64
	if _, err := fmt.Sscan(os.Getenv("SOURCE_DATE_EPOCH"), &n); err == nil && n > 0 {
		return n
	}
	return time.Now().Unix()
}

const copyrightText = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ventapp
Source: https://github.com/ventapp/ventapp

Files: *
Copyright: 2026 the ventapp developers
License: Apache-2.0

License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0 can be
 found in /usr/share/common-licenses/Apache-2.0.
`
