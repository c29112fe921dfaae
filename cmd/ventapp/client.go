package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/ventapp/ventapp/api"
	"github.com/ventapp/ventapp/config"
	"github.com/ventapp/ventapp/containers"
	"github.com/ventapp/ventapp/drop"
	"github.com/ventapp/ventapp/engine"
	"github.com/ventapp/ventapp/index"
	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
)

// client returns an API client for the daemon the global flags point at.
// Its config is read leniently: a bad value elsewhere in the file must not
// keep an operator from reaching the daemon.
func (env *cliEnv) client() (*api.Client, error) {
	path, err := config.Locate(env.configPath, env.dataDir)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadLenient(path, env.dataDir)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Ignored {
		fmt.Fprintf(env.stderr, "warning: %s (the daemon will refuse this file at its next start or reload)\n", w)
	}
	return api.NewClient(cfg.Socket), nil
}

func (env *cliEnv) printJSON(v any) error {
	enc := json.NewEncoder(env.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cmdStatus(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "status")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	c, err := env.client()
	if err != nil {
		return err
	}
	var s engine.Status
	if err := c.Get(ctx, "/api/v1/status", nil, &s); err != nil {
		return err
	}
	if *asJSON {
		return env.printJSON(s)
	}

	w := tabwriter.NewWriter(env.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintf(w, "version\t%s (up %s)\n", s.Version, s.Uptime)
	fmt.Fprintf(w, "drop folder\t%s (%s free)\n", s.Drop.Folder, humanBytes(s.Drop.FreeBytes))
	fmt.Fprintf(w, "jobs\tqueued %d, running %d, done %d, failed %d, cancelled %d\n",
		s.Jobs["queued"], s.Jobs["running"], s.Jobs["done"], s.Jobs["failed"], s.Jobs["cancelled"])
	fmt.Fprintf(w, "files\tseen %d, queued %d, claimed by no plugin %d\n",
		s.Counters["files_seen"], s.Counters["files_queued"], s.Counters["files_ignored"])
	fmt.Fprintf(w, "plugins\t%d installed, %d built, %d enabled\n", s.Plugins.Installed, s.Plugins.Built, s.Plugins.Enabled)
	if s.Containerd.Healthy {
		fmt.Fprintf(w, "containerd\tok, %s at %s (namespace %s)\n", s.Containerd.Version, s.Containerd.Address, s.Containerd.Namespace)
	} else {
		fmt.Fprintf(w, "containerd\tUNAVAILABLE: %s\n", s.Containerd.Error)
	}
	if s.Index.Healthy {
		fmt.Fprintf(w, "index\tok, %d documents, layout %d\n", s.Index.Docs, s.Index.Layout)
	} else {
		fmt.Fprintf(w, "index\tERROR: %s\n", s.Index.Error)
	}
	if s.Index.LastError != "" {
		fmt.Fprintf(w, "index\tlast problem: %s\n", s.Index.LastError)
	}
	if s.GPU.Available {
		fmt.Fprintf(w, "gpus\t%d devices, %d jobs placed, %d waiting\n",
			len(s.GPU.Devices), len(s.GPU.Reservations), len(s.GPU.Queue))
		for _, d := range s.GPU.Devices {
			fmt.Fprintf(w, "  gpu %d\t%s: %d of %d MiB reserved by ventapp, %d MiB used by others\n",
				d.Index, d.Name, d.ReservedMB, d.MemTotalMB, d.ForeignMB)
		}
	} else {
		fmt.Fprintf(w, "gpus\tnone usable: %s\n", orText(s.GPU.Error, "not checked yet"))
	}
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "warning\t%s\n", warn)
	}
	return w.Flush()
}

func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// cmdPlugins adds, lists and manages plugin tools through the daemon.
func cmdPlugins(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: missing subcommand", errUsage)
	}
	sub, args := args[0], args[1:]
	var o pluginsOpts
	fs := pluginsFlagSet(env, sub, &o)
	if fs == nil {
		return fmt.Errorf("%w: unknown subcommand %q", errUsage, sub)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch sub {
	case "list", "manifest", "services":
		if len(pos) > 0 {
			return fmt.Errorf("%w: plugins %s takes no arguments, got %q", errUsage, sub, pos)
		}
	case "add":
		err = nonEmpty("folder or URL", pos)
	case "import", "export":
		err = nonEmpty("name", pos)
	default:
		err = nonEmpty("tool name", pos)
	}
	if err != nil {
		return err
	}
	c, err := env.client()
	if err != nil {
		return err
	}

	switch sub {
	case "add":
		return pluginsAdd(ctx, env, c, pos, o)
	case "list":
		return pluginsList(ctx, env, c, o.json)
	case "build", "enable", "disable":
		return pluginsSet(ctx, env, c, sub, pos)
	case "manifest":
		return c.Get(ctx, "/api/v1/plugins/manifest", nil, env.stdout)
	case "start", "stop", "clean", "remove", "update", "rollback":
		return toolActions(ctx, env, c, sub, pos, o.json)
	case "configure":
		if len(pos) != 1 {
			return fmt.Errorf("%w: plugins configure takes one tool name", errUsage)
		}
		return configureTool(ctx, env, c, pos[0])
	case "services":
		return listServices(ctx, env, c, o.json)
	case "logs":
		if len(pos) != 1 {
			return fmt.Errorf("%w: plugins logs takes one tool name", errUsage)
		}
		return toolLogs(ctx, env, c, pos[0], o.follow)
	case "export":
		return exportTools(ctx, env, c, pos, o.out)
	default: // "import"
		if len(pos) != 1 {
			return fmt.Errorf("%w: plugins import takes one bundle file", errUsage)
		}
		return importTools(ctx, env, c, pos[0], o.json)
	}
}

// pluginsOpts holds the flags of the plugins subcommands; each subcommand
// accepts only its own (see pluginsFlagSet).
type pluginsOpts struct {
	json, core, credsStdin, follow bool
	branch, commit, tools, out     string
}

// pluginsFlagSet is the flag set of `plugins SUB`, filling o, or nil for
// an unknown subcommand.
func pluginsFlagSet(env *cliEnv, sub string, o *pluginsOpts) *flag.FlagSet {
	fs := newFlags(env, "plugins "+sub)
	jsonFlag := func() { fs.BoolVar(&o.json, "json", false, "print JSON") }
	switch sub {
	case "add":
		jsonFlag()
		fs.StringVar(&o.branch, "branch", "", "git branch to add (default: the repository's default branch)")
		fs.StringVar(&o.commit, "commit", "", "git commit to check out (default: the branch tip)")
		fs.StringVar(&o.tools, "tools", "", "comma-separated tool names to add (default: all)")
		fs.BoolVar(&o.core, "core", false, "add only tools whose path contains \"core\"")
		fs.BoolVar(&o.credsStdin, "credentials-stdin", false,
			"read the git user name and password (or token) from stdin, one line each (for a git URL)")
	case "list", "services", "import", "start", "stop", "clean", "remove", "update", "rollback":
		jsonFlag()
	case "logs":
		fs.BoolVar(&o.follow, "f", false, "keep printing new output")
	case "export":
		fs.StringVar(&o.out, "o", "", "bundle file to write")
	case "build", "enable", "disable", "manifest", "configure":
	default:
		return nil
	}
	return fs
}

// pluginsAdd adds the tools of a local folder or a git repository.
func pluginsAdd(ctx context.Context, env *cliEnv, c *api.Client, pos []string, o pluginsOpts) error {
	if len(pos) != 1 {
		return fmt.Errorf("%w: plugins add takes one folder or git URL", errUsage)
	}
	if isGitURL(pos[0]) {
		return addRepo(ctx, env, c, api.AddPluginRequest{
			URL: pos[0], Branch: o.branch, Commit: o.commit, Tools: splitList(o.tools), Core: o.core,
		}, o.json, o.credsStdin)
	}
	if o.credsStdin || o.branch != "" || o.commit != "" || o.tools != "" || o.core {
		return fmt.Errorf("%w: --branch, --commit, --tools, --core and --credentials-stdin are for a git URL, "+
			"not a folder", errUsage)
	}
	dir, err := filepath.Abs(pos[0])
	if err != nil {
		return err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("plugin folder %s: not a readable directory", pos[0])
	}

	var res []engine.AddResult
	p := newProgress(env.stderr, "adding plugins from "+dir+" and building their images", 0)
	err = c.PostJSON(ctx, "/api/v1/plugins", api.AddPluginRequest{Path: dir}, &res)
	p.finish(result(err))
	if err != nil {
		return err
	}
	if o.json {
		return env.printJSON(res)
	}
	return printAdded(env, "", res)
}

// pluginsList prints the registered tools.
func pluginsList(ctx context.Context, env *cliEnv, c *api.Client, asJSON bool) error {
	var list []*plugins.Plugin
	if err := c.Get(ctx, "/api/v1/plugins", nil, &list); err != nil {
		return err
	}
	if asJSON {
		return env.printJSON(list)
	}
	w := tabwriter.NewWriter(env.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "TOOL\tNAME\tIMAGE\tBUILT\tENABLED\tEXT TYPES\tSOURCE")
	for _, p := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.LinkName, p.Image, yesNo(p.Built),
			yesNo(p.Enabled), strings.Join(p.Settings.ExtTypes, ","), p.Dir)
	}
	return w.Flush()
}

// pluginsSet builds, enables or disables each tool named, stopping at the
// first that fails.
func pluginsSet(ctx context.Context, env *cliEnv, c *api.Client, sub string, names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("%w: plugins %s needs at least one tool name", errUsage, sub)
	}
	done := map[string]string{"build": "built", "enable": "enabled", "disable": "disabled"}[sub]
	for _, name := range names {
		path := "/api/v1/plugins/" + url.PathEscape(name) + "/" + sub
		var out map[string]any
		if err := c.Do(ctx, "POST", path, nil, nil, &out); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if e, _ := out["error"].(string); e != "" {
			return fmt.Errorf("%s: %s", name, e)
		}
		fmt.Fprintf(env.stdout, "%s: %s\n", name, done)
	}
	return nil
}

// openUpload opens a file the CLI streams to the daemon, naming what it is
// in errors, and returns its size for the progress bar.
func openUpload(path, what string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", what, err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s %s: not a regular file", what, path)
	}
	return f, fi.Size(), nil
}

// isGitURL tells a repository address from a local folder.
func isGitURL(s string) bool {
	return strings.Contains(s, "://") || strings.HasPrefix(s, "git@")
}

// splitList splits a comma-separated list, dropping empty entries.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// addRepo asks the daemon to clone a plugin repository and add its tools.
// The git credentials are two lines read from stdin when credsStdin is
// set, else VENTAPP_GIT_USERNAME and VENTAPP_GIT_PASSWORD, else the
// user:password in the URL. When the daemon answers that the
// repository wants credentials and none were given, addRepo asks for them
// on a terminal stdin and tries once more; without a terminal it fails
// with a hint. Credentials go to the daemon for this fetch only and are
// never printed.
func addRepo(ctx context.Context, env *cliEnv, c *api.Client, req api.AddPluginRequest, asJSON,
	credsStdin bool) error {
	u, err := plugins.ParseRepoURL(req.URL)
	if err != nil {
		return err
	}
	urlUser, urlHasPassword := urlCredentials(req.URL)

	creds := plugins.CredentialsFromEnv()
	if credsStdin {
		if creds, err = readCredentialLines(env.stdin); err != nil {
			return err
		}
	}
	given := ""
	switch {
	case credsStdin:
		given = "read from stdin"
	case !creds.Empty():
		given = "from " + plugins.EnvGitUsername + " and " + plugins.EnvGitPassword
	case urlHasPassword:
		given = "in the URL"
	}

	res, err := postRepo(ctx, env, c, req, u.URL, creds)
	if !wantsCredentials(err) {
		return reportRepo(env, res, err, asJSON)
	}
	if given != "" {
		return fmt.Errorf("%w\nthe repository refused the credentials %s", err, given)
	}
	if !stdinIsTerminal(env.stdin) {
		return fmt.Errorf("%w\n%s", err, credentialsHint)
	}

	if creds, err = promptCredentials(env, u.Scheme+"://"+u.Host, urlUser); err != nil {
		return err
	}
	res, err = postRepo(ctx, env, c, req, u.URL, creds)
	if wantsCredentials(err) {
		return fmt.Errorf("%w\nthe repository refused the credentials entered", err)
	}
	return reportRepo(env, res, err, asJSON)
}

// credentialsHint says how to give git credentials.
const credentialsHint = "the repository wants a user name and password (or token): set " +
	plugins.EnvGitUsername + " and " + plugins.EnvGitPassword + ", or pass --credentials-stdin and " +
	"write them as two lines on stdin, or run the command on a terminal to be asked for them"

// postRepo sends one add request with creds, showing the URL without
// credentials in the progress line.
func postRepo(ctx context.Context, env *cliEnv, c *api.Client, req api.AddPluginRequest, shown string,
	creds plugins.Credentials) (engine.RepoResult, error) {
	req.Username, req.Password = creds.Username, creds.Password
	var res engine.RepoResult
	p := newProgress(env.stderr, "cloning "+shown+" and building its tools", 0)
	err := c.PostJSON(ctx, "/api/v1/plugins", req, &res)
	p.finish(result(err))
	return res, err
}

// reportRepo prints the outcome of an add request.
func reportRepo(env *cliEnv, res engine.RepoResult, err error, asJSON bool) error {
	if err != nil {
		return err
	}
	if asJSON {
		return env.printJSON(res)
	}
	fmt.Fprintf(env.stdout, "%s at %s (%.12s)\n", res.Repo, res.Branch, res.Commit)
	for _, s := range res.Skipped {
		fmt.Fprintf(env.stdout, "  %s\tskipped: %s\n", s.Path, s.Reason)
	}
	return printAdded(env, "  ", res.Tools)
}

// wantsCredentials reports whether err is the daemon's answer that the
// repository wants git credentials.
func wantsCredentials(err error) bool {
	var se *api.StatusError
	return errors.As(err, &se) && se.Kind == api.KindGitCredentials
}

// urlCredentials returns the user name in a scheme://user[:password]@host
// URL and whether it holds a password. git's scp-like user@host:path
// holds an ssh user name only, which is not a credential to prompt
// around.
func urlCredentials(raw string) (user string, hasPassword bool) {
	if !strings.Contains(raw, "://") {
		return "", false
	}
	pu, err := url.Parse(raw)
	if err != nil || pu.User == nil {
		return "", false
	}
	_, hasPassword = pu.User.Password()
	return pu.User.Username(), hasPassword
}

// readCredentialLines reads the user name and the password from the first
// two lines of r (--credentials-stdin).
func readCredentialLines(r io.Reader) (plugins.Credentials, error) {
	if r == nil {
		r = strings.NewReader("")
	}
	user, err := readLine(r)
	if err != nil {
		return plugins.Credentials{}, fmt.Errorf("--credentials-stdin: reading the user name: %w", err)
	}
	password, err := readLine(r)
	if err != nil && (!errors.Is(err, io.EOF) || password == "") {
		return plugins.Credentials{}, fmt.Errorf("--credentials-stdin: reading the password "+
			"(the second line): %w", err)
	}
	if user == "" && password == "" {
		return plugins.Credentials{}, errors.New("--credentials-stdin: the user name and the password " +
			"are both empty")
	}
	return plugins.Credentials{Username: user, Password: password}, nil
}

// readLine reads one line from r a byte at a time, so nothing after it is
// consumed, and drops the line ending. It returns io.EOF with what was
// read when r ends before a newline.
func readLine(r io.Reader) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for len(b) < 4096 {
		n, err := r.Read(one)
		if n == 1 {
			if one[0] == '\n' {
				return strings.TrimSuffix(string(b), "\r"), nil
			}
			b = append(b, one[0])
			continue
		}
		if err != nil {
			return string(b), err
		}
	}
	return "", errors.New("line longer than 4096 bytes")
}

// promptCredentials asks on stderr for the user name (unless the URL gave
// one) and reads the password from the terminal without echo.
func promptCredentials(env *cliEnv, site, user string) (plugins.Credentials, error) {
	if user == "" {
		fmt.Fprintf(env.stderr, "Username for %s: ", site)
		var err error
		if user, err = readLine(env.stdin); err != nil {
			fmt.Fprintln(env.stderr)
			return plugins.Credentials{}, fmt.Errorf("reading the user name: %w", err)
		}
	}
	fmt.Fprint(env.stderr, "Password: ")
	password, err := readTermPassword(env.stdin)
	fmt.Fprintln(env.stderr)
	if err != nil {
		return plugins.Credentials{}, fmt.Errorf("reading the password: %w", err)
	}
	if user == "" && password == "" {
		return plugins.Credentials{}, errors.New("no credentials entered")
	}
	return plugins.Credentials{Username: user, Password: password}, nil
}

// stdinIsTerminal reports whether r is a terminal; tests replace it.
var stdinIsTerminal = func(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// readTermPassword reads a line from the terminal r without echo; tests
// replace it. An interrupt while it waits turns the echo back on before
// the process exits.
var readTermPassword = func(r io.Reader) (string, error) {
	f, ok := r.(*os.File)
	if !ok {
		return "", errors.New("stdin is not a terminal")
	}
	fd := int(f.Fd())
	state, err := term.GetState(fd)
	if err != nil {
		return "", err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	defer func() { signal.Stop(sig); close(done) }()
	go func() {
		select {
		case <-sig:
			_ = term.Restore(fd, state)
			os.Exit(130)
		case <-done:
		}
	}()

	b, err := term.ReadPassword(fd)
	return string(b), err
}

// printAdded prints one line per added tool and fails when any was not
// built.
func printAdded(env *cliEnv, indent string, res []engine.AddResult) error {
	failed := 0
	for _, r := range res {
		if r.Error != "" {
			failed++
			fmt.Fprintf(env.stdout, "%s%s\tadded, NOT built: %s\n", indent, r.Tool, r.Error)
			continue
		}
		fmt.Fprintf(env.stdout, "%s%s\tadded and built as %s (%s)\n", indent, r.Tool, r.Image, short(r.Digest))
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d tools were not built", failed, len(res))
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func short(digest string) string {
	if _, hex, ok := strings.Cut(digest, ":"); ok && len(hex) > 12 {
		return hex[:12]
	}
	return digest
}

func cmdImages(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: missing subcommand", errUsage)
	}
	sub, args := args[0], args[1:]
	fs := newFlags(env, "images "+sub)
	asJSON := fs.Bool("json", false, "print JSON")
	out := fs.String("o", "", "archive file to write (images export)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	c, err := env.client()
	if err != nil {
		return err
	}

	switch sub {
	case "import":
		if len(pos) != 1 {
			return fmt.Errorf("%w: images import takes one archive", errUsage)
		}
		f, size, err := openUpload(pos[0], "image archive")
		if err != nil {
			return err
		}
		defer f.Close()
		var out struct {
			Images []string `json:"images"`
		}
		p := newProgress(env.stderr, "importing "+pos[0], size)
		err = c.Do(ctx, "POST", "/api/v1/images/import", nil, p.reader(f), &out)
		p.finish(result(err))
		if err != nil {
			return fmt.Errorf("%s: %w", pos[0], err)
		}
		if *asJSON {
			return env.printJSON(out)
		}
		for _, n := range out.Images {
			fmt.Fprintf(env.stdout, "imported %s\n", n)
		}
		return nil

	case "list":
		var imgs []containers.ImageInfo
		if err := c.Get(ctx, "/api/v1/images", nil, &imgs); err != nil {
			return err
		}
		if *asJSON {
			return env.printJSON(imgs)
		}
		w := tabwriter.NewWriter(env.stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(w, "IMAGE\tDIGEST\tSIZE\tCREATED")
		for _, im := range imgs {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", im.Name, short(im.Digest), humanBytes(uint64(im.Size)), stamp(im.Created))
		}
		return w.Flush()

	case "export":
		return exportImages(ctx, env, c, pos, *out)
	case "rm":
		return removeImages(ctx, env, c, pos)
	case "pull":
		return pullImages(ctx, env, c, pos)
	}
	return fmt.Errorf("%w: unknown subcommand %q", errUsage, sub)
}

func cmdDrop(ctx context.Context, env *cliEnv, args []string) error {
	args, err := parseInterspersed(newFlags(env, "drop"), args) // -h; `--` before a file named -x
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return fmt.Errorf("%w: name at least one file", errUsage)
	}
	folder, err := env.dropFolder(ctx)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return fmt.Errorf("drop folder %s: %w", folder, err)
	}

	failed := 0
	for _, src := range args {
		dst, err := drop.PlaceFile(src, folder)
		if err != nil {
			failed++
			fmt.Fprintf(env.stderr, "ventapp drop: %v\n", err)
			continue
		}
		fmt.Fprintln(env.stdout, dst)
	}
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d files were not dropped", failed, len(args))}
	}
	return nil
}

// dropFolder is the folder the running daemon watches, which can differ
// from the config file's when the file was edited after the daemon
// started; with no daemon, the config's.
func (env *cliEnv) dropFolder(ctx context.Context) (string, error) {
	if c, err := env.client(); err == nil {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		var s engine.Status
		if err := c.Get(qctx, "/api/v1/status", nil, &s); err == nil && s.Drop.Folder != "" {
			return s.Drop.Folder, nil
		}
	}
	cfg, err := env.loadConfig()
	if err != nil {
		return "", err
	}
	return cfg.Files, nil
}

// cmdProcess queues files already in the drop folder (or every file
// under a folder there) for the plugins that claim them and have not run
// on their content: a plugin added after the captures arrived, say.
func cmdProcess(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "process")
	asJSON := fs.Bool("json", false, "print JSON")
	tools := fs.String("tools", "", "only these plugins (comma-separated names, each enabled and built)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("%w: process takes one or more files or folders in the drop folder", errUsage)
	}

	var req api.ProcessRequest
	for _, p := range pos {
		abs, err := filepath.Abs(p)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if utf8.ValidString(abs) {
			req.Paths = append(req.Paths, abs)
		} else {
			req.RawPaths = append(req.RawPaths, []byte(abs))
		}
	}
	for t := range strings.SplitSeq(*tools, ",") {
		if t = strings.TrimSpace(t); t != "" {
			req.Tools = append(req.Tools, t)
		}
	}
	if len(req.Tools) == 0 && flagSet(fs, "tools") {
		return fmt.Errorf("%w: --tools %q names no tool; leave it out to use every plugin", errUsage, *tools)
	}
	c, err := env.client()
	if err != nil {
		return err
	}
	var res []engine.ProcessResult
	if err := c.PostJSON(ctx, "/api/v1/process", req, &res); err != nil {
		return err
	}
	if *asJSON {
		return env.printJSON(res)
	}

	// A row per file that got jobs; the others, which can be thousands in
	// a big drop folder, are counted by what was said about them.
	w := tabwriter.NewWriter(env.stdout, 0, 8, 2, ' ', 0)
	queued, files := 0, 0
	var notes []string
	noted := map[string]int{}
	for _, r := range res {
		if len(r.Jobs) == 0 {
			if noted[r.Note] == 0 {
				notes = append(notes, r.Note)
			}
			noted[r.Note]++
			continue
		}
		if files == 0 {
			fmt.Fprintln(w, "FILE\tJOBS\tNOTE")
		}
		name := r.File
		if r.FileBytes != nil {
			name = string(r.FileBytes)
		}
		var ids []string
		for _, j := range r.Jobs {
			ids = append(ids, j.ID+" "+j.Tool)
		}
		queued += len(r.Jobs)
		files++
		fmt.Fprintf(w, "%s\t%s\t%s\n", quoteName(name), strings.Join(ids, ", "), r.Note)
	}
	w.Flush()
	fmt.Fprintf(env.stdout, "%s queued for %s\n", plural(queued, "job"), plural(files, "file"))
	for _, n := range notes {
		fmt.Fprintf(env.stdout, "%s not queued: %s\n", plural(noted[n], "file"), n)
	}
	return nil
}

func cmdJobs(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "jobs")
	asJSON := fs.Bool("json", false, "print JSON")
	state := fs.String("state", "", "only jobs in this state: queued, running, done, failed or cancelled")
	tool := fs.String("tool", "", "only jobs of this plugin")
	file := fs.String("file", "", "only jobs whose file path contains this text")
	limit := fs.Int("limit", 100, "at most this many jobs")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *state != "" {
		if _, err := jobs.ParseState(*state); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	c, err := env.client()
	if err != nil {
		return err
	}
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	for k, v := range map[string]string{"state": *state, "tool": *tool, "file": *file} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var list []jobs.Job
	if err := c.Get(ctx, "/api/v1/jobs", q, &list); err != nil {
		return err
	}
	if *asJSON {
		return env.printJSON(list)
	}
	w := tabwriter.NewWriter(env.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSTATE\tTOOL\tFILE\tEXIT\tREASON")
	for _, j := range list {
		exit := "-"
		if j.ExitCode != nil {
			exit = strconv.Itoa(*j.ExitCode)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.State, j.Tool, quoteName(j.File), exit, oneLine(j.Reason, 60))
	}
	return w.Flush()
}

// quoteName shows a path with control characters or invalid UTF-8
// escaped, so one job is always one line.
func quoteName(s string) string {
	q := strconv.Quote(s)
	if q[1:len(q)-1] == s {
		return s
	}
	return q
}

func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' ' // newlines and tabs would break the table
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if utf8.RuneCountInString(s) > n {
		return string([]rune(s)[:n]) + "…"
	}
	return s
}

// jobID checks a job ID typed by a user and pads it as the store writes
// IDs (twelve digits), so 42 finds job 000000000042.
func jobID(s string) (string, error) {
	t := strings.TrimSpace(s)
	if t == "" || len(t) > 12 || strings.Trim(t, "0123456789") != "" {
		return "", fmt.Errorf("%w: %q is not a job ID: job IDs are the numbers `ventapp jobs` lists, "+
			"such as 000000000042 (or 42)", errUsage, s)
	}
	return strings.Repeat("0", 12-len(t)) + t, nil
}

func cmdJob(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: missing subcommand", errUsage)
	}
	sub, args := args[0], args[1:]
	fs := newFlags(env, "job "+sub)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: job %s takes one job ID", errUsage, sub)
	}
	id, err := jobID(pos[0])
	if err != nil {
		return err
	}
	c, err := env.client()
	if err != nil {
		return err
	}
	path := "/api/v1/jobs/" + url.PathEscape(id)

	var j jobs.Job
	switch sub {
	case "show":
		err = c.Get(ctx, path, nil, &j)
	case "cancel", "retry":
		err = c.Do(ctx, "POST", path+"/"+sub, nil, nil, &j)
	default:
		return fmt.Errorf("%w: unknown subcommand %q", errUsage, sub)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return env.printJSON(j)
	}

	w := tabwriter.NewWriter(env.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintf(w, "job\t%s\n", j.ID)
	fmt.Fprintf(w, "state\t%s\n", j.State)
	fmt.Fprintf(w, "tool\t%s\n", j.Tool)
	fmt.Fprintf(w, "file\t%s\n", quoteName(j.File))
	fmt.Fprintf(w, "sha256\t%s\n", j.FileSHA256)
	fmt.Fprintf(w, "attempts\t%d\n", j.Attempts)
	fmt.Fprintf(w, "created\t%s\n", stamp(j.CreatedAt))
	fmt.Fprintf(w, "started\t%s\n", stamp(j.StartedAt))
	fmt.Fprintf(w, "finished\t%s\n", stamp(j.FinishedAt))
	if !j.StartedAt.IsZero() && !j.FinishedAt.IsZero() {
		fmt.Fprintf(w, "took\t%s\n", j.FinishedAt.Sub(j.StartedAt).Round(time.Millisecond))
	}
	if j.ExitCode != nil {
		fmt.Fprintf(w, "exit code\t%d\n", *j.ExitCode)
	}
	if j.Reason != "" {
		fmt.Fprintf(w, "reason\t%s\n", j.Reason)
	}
	if j.Container != "" {
		fmt.Fprintf(w, "container\t%s\n", j.Container)
	}
	w.Flush()
	if len(j.LogTail) > 0 {
		fmt.Fprintln(env.stdout, "log tail:")
		for _, l := range j.LogTail {
			fmt.Fprintf(env.stdout, "  %s\n", l)
		}
	}
	return nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}

// searchArgs separates search's own flags from the query. A word that
// starts with "-" but names none of the flags is a query clause excluding
// something (-fields.type:flow, -line:>5), as the query syntax has it, so
// it needs no "--" before it; after "--" everything is query.
func searchArgs(fs *flag.FlagSet, args []string) (flags, query []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(query, args[i+1:]...)
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		if !strings.HasPrefix(a, "-") || a == "-" || (f == nil && name != "h" && name != "help") {
			query = append(query, a)
			continue
		}
		flags = append(flags, a)
		if f == nil || hasValue || i+1 == len(args) {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
			i++ // the flag's value is the next word
			flags = append(flags, args[i])
		}
	}
	return flags, query
}

func cmdSearch(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "search")
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 20, "at most this many hits")
	offset := fs.Int("offset", 0, "skip this many hits (paging)")
	byTime := fs.Bool("by-time", false, "hits in output order (time, then line) instead of best first")
	flags, query := searchArgs(fs, args)
	pos, err := parseInterspersed(fs, flags)
	if err != nil {
		return err
	}
	pos = append(pos, query...)
	if strings.TrimSpace(strings.Join(pos, " ")) == "" {
		return fmt.Errorf("%w: give a query, e.g. `ventapp search fields.query:www.example.com` "+
			"(every line: `ventapp search line:>0`)", errUsage)
	}
	if *limit < 1 || *offset < 0 {
		return fmt.Errorf("%w: --limit takes a number >= 1 and --offset one >= 0 (got %d and %d)",
			errUsage, *limit, *offset)
	}
	c, err := env.client()
	if err != nil {
		return err
	}
	q := url.Values{
		"q":      {strings.Join(pos, " ")},
		"limit":  {strconv.Itoa(*limit)},
		"offset": {strconv.Itoa(*offset)},
	}
	if *byTime {
		q.Set("order", "time")
	}
	var res index.Result
	if err := c.Get(ctx, "/api/v1/search", q, &res); err != nil {
		return err
	}
	if *asJSON {
		return env.printJSON(res)
	}
	if len(res.Hits) == 0 {
		fmt.Fprintf(env.stdout, "%d hits\n", res.Total)
	} else {
		fmt.Fprintf(env.stdout, "%d hits, showing %d–%d\n", res.Total, *offset+1, *offset+len(res.Hits))
	}
	for _, h := range res.Hits {
		tool, file := h.Tool, quoteName(h.File)
		if tool == "" {
			tool = "-" // the job's entry in the job index is gone
		}
		if h.File == "" {
			file = "-"
		}
		fmt.Fprintf(env.stdout, "job %s  %s  %s:%d\n  %s\n", h.JobID, tool, file, h.Line, oneLine(h.Message, 200))
	}
	return nil
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// plural is "1 file" or "n files".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
