package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Errors of FetchRepo and Repo.Tools. Callers test for them with
// errors.Is; the messages name the URL (without credentials) and the
// problem.
var (
	// ErrRepoURL is returned for a URL ParseRepoURL refuses.
	ErrRepoURL = errors.New("bad repository URL")

	// ErrRepoFetch is returned when the repository cannot be listed,
	// cloned, fetched or checked out.
	ErrRepoFetch = errors.New("cannot fetch repository")

	// ErrRepoAuth is returned when the repository wants credentials that
	// were not given, or refuses those given. It wraps ErrRepoFetch, so
	// errors.Is(err, ErrRepoFetch) holds for it too.
	ErrRepoAuth = fmt.Errorf("%w: the repository wants credentials", ErrRepoFetch)

	// ErrBranchNotFound is returned when the remote has no such branch.
	ErrBranchNotFound = errors.New("branch not found")

	// ErrCommitNotFound is returned when the requested commit is not in
	// the fetched history, and ErrCommitNotInBranch when it is but the
	// branch tip does not descend from it.
	ErrCommitNotFound    = errors.New("commit not found")
	ErrCommitNotInBranch = errors.New("commit not in branch")

	// ErrRepoConflict is returned when the clone folder holds a clone of
	// another URL, or something that is not a clone.
	ErrRepoConflict = errors.New("clone folder in use")

	// ErrNoTools is returned by Repo.Tools when no usable tool is left.
	ErrNoTools = errors.New("no tools in repository")

	// ErrToolNotInRepo is returned by Repo.Tools when a name in
	// RepoOptions.Tools matches no tool folder.
	ErrToolNotInRepo = errors.New("tool not in repository")
)

// RepoOptions say which repository FetchRepo clones and what it checks out.
type RepoOptions struct {
	// URL is the repository (see ParseRepoURL). A user:password in it is
	// used as the credentials when Auth is empty, and dropped from
	// everything stored or shown.
	URL string

	// Branch is the branch to check out; empty means the branch the
	// remote HEAD points to.
	Branch string

	// Commit is a full or abbreviated commit hash to check out instead of
	// the branch tip. It must be the tip or an ancestor of it.
	Commit string

	// Tools keeps only the named tools in Repo.Tools: a folder's last path
	// component (all tools of that folder), a tool name "dir@suffix", a
	// "@suffix" or a folder path relative to the repository root. Names
	// are compared lower-cased. Empty keeps every tool.
	Tools []string

	// Core keeps only tools whose folder path contains "core", as vent's
	// core mode did.
	Core bool

	// Auth are the credentials for http(s) and ssh URLs. They are sent to
	// the repository's host and to submodules on the same host only.
	Auth Credentials

	// Progress receives git's progress messages; nil discards them.
	Progress io.Writer

	// Logger receives what FetchRepo and Tools do; nil discards it.
	Logger *slog.Logger
}

// Repo is a plugin repository cloned and checked out under the data dir.
type Repo struct {
	// URL is the clone URL without credentials.
	URL string

	// Canonical is the lower-cased URL without credentials or ".git", as
	// stored in Plugin.Repo.
	Canonical string

	// Org and Name are the last two URL path components (see ParseRepoURL).
	Org, Name string

	// Dir is the clone: <data dir>/plugins/<Org>/<Name>.
	Dir string

	// Branch is the branch checked out and Commit the full hash of HEAD.
	Branch, Commit string

	// Branches are the remote's branch names, sorted.
	Branches []string

	// Updated is true when an existing clone was fetched instead of cloned.
	Updated bool

	// Skipped lists the tool folders the last Tools call left out, and why.
	Skipped []SkippedTool

	opts RepoOptions
	log  *slog.Logger
}

// SkippedTool is a folder with a Dockerfile that Repo.Tools left out.
type SkippedTool struct {
	// Path is the folder relative to the repository root ("/" for the root).
	Path string

	// Reason says why, naming the file and line where there is one.
	Reason string
}

// cloneLocks serialises FetchRepo calls on the same clone folder.
var cloneLocks sync.Map // clone folder → *sync.Mutex

// FetchRepo clones o.URL into <dataDir>/plugins/<org>/<repo> with its
// submodules, or fetches into the clone when it already exists, and checks
// out o.Branch (default: the remote HEAD's branch) at its tip or at
// o.Commit. Local changes in the clone are discarded. A clone that fails
// part way is removed. Errors never hold the credentials.
//
// vent skipped the clone when the folder existed and then checked out
// with the git CLI, ignoring failures; ventapp fetches and reports every
// failure. TLS certificates are verified (vent set GIT_SSL_NO_VERIFY).
func FetchRepo(ctx context.Context, dataDir string, o RepoOptions) (*Repo, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u, err := ParseRepoURL(o.URL)
	if err != nil {
		return nil, err
	}
	creds := o.Auth
	if creds.Empty() {
		creds = u.creds
	}
	f := &fetcher{
		ctx: ctx, u: u, o: o, log: log,
		scrub: newScrubber(creds, u.creds, o.Auth),
		auth:  authMethod(u.Scheme, creds),
	}
	if err := f.checkRefs(); err != nil {
		return nil, err
	}

	dir, err := filepath.Abs(u.Dir(dataDir))
	if err != nil {
		return nil, f.fail(ErrRepoFetch, err, "clone folder")
	}
	mu, _ := cloneLocks.LoadOrStore(dir, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	repo, updated, err := f.openOrClone(dir)
	if err != nil {
		return nil, err
	}
	head, err := f.checkout(repo)
	if err == nil {
		err = f.submodules(repo, 0)
	}
	if err != nil {
		if !updated {
			_ = os.RemoveAll(dir)
		}
		return nil, err
	}

	log.Info("plugin repository checked out", "url", u.URL, "dir", dir,
		"branch", f.branch, "commit", head.String(), "updated", updated)
	return &Repo{
		URL: u.URL, Canonical: u.Canonical(), Org: u.Org, Name: u.Name, Dir: dir,
		Branch: f.branch, Commit: head.String(), Branches: f.branches, Updated: updated,
		opts: o, log: log,
	}, nil
}

// fetcher holds the state of one FetchRepo call.
type fetcher struct {
	ctx   context.Context
	u     RepoURL
	o     RepoOptions
	log   *slog.Logger
	scrub scrubber
	auth  transport.AuthMethod

	branch   string   // the branch to check out
	branches []string // the remote's branches
}

// authMethod turns credentials into go-git's form for the scheme: basic
// auth for http(s), a password for ssh (nil lets ssh use the agent), none
// for git:// and file://.
func authMethod(scheme string, c Credentials) transport.AuthMethod {
	switch {
	case c.Empty():
		return nil
	case scheme == "http" || scheme == "https":
		return &githttp.BasicAuth{Username: c.Username, Password: c.Password}
	case scheme == "ssh" && c.Password != "":
		return &gitssh.Password{User: c.Username, Password: c.Password}
	}
	return nil
}

// branchName is what a branch given by the user may look like.
var branchName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./-]*$`)

// commitHash is what o.Commit may look like.
var commitHash = regexp.MustCompile(`^[0-9a-fA-F]{4,40}$`)

// checkRefs lists the remote's references, picks the branch and checks
// that it exists.
func (f *fetcher) checkRefs() error {
	if f.o.Branch != "" && (!branchName.MatchString(f.o.Branch) || strings.Contains(f.o.Branch, "..") ||
		plumbing.NewBranchReferenceName(f.o.Branch).Validate() != nil) {
		return f.fail(ErrBranchNotFound, nil, "%q is not a valid branch name", f.o.Branch)
	}
	if f.o.Commit != "" && !commitHash.MatchString(f.o.Commit) {
		return f.fail(ErrCommitNotFound, nil, "%q is not a commit hash (4 to 40 hex digits)", f.o.Commit)
	}

	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{f.u.URL}})
	refs, err := remote.ListContext(f.ctx, &git.ListOptions{Auth: f.auth})
	if isAuthErr(err) {
		return f.authFail(err)
	}
	if err != nil {
		return f.fail(ErrRepoFetch, err, "cannot list the remote's branches")
	}

	head := ""
	for _, r := range refs {
		switch {
		case r.Name() == plumbing.HEAD && r.Type() == plumbing.SymbolicReference:
			head = r.Target().Short()
		case r.Name().IsBranch():
			f.branches = append(f.branches, r.Name().Short())
		}
	}
	sort.Strings(f.branches)

	f.branch = f.o.Branch
	if f.branch == "" {
		f.branch = head
	}
	switch {
	case len(f.branches) == 0:
		return f.fail(ErrBranchNotFound, nil, "the repository has no branches")
	case f.branch == "":
		return f.fail(ErrBranchNotFound, nil, "the remote HEAD names no branch; choose one of %s",
			listNames(f.branches))
	case !slices.Contains(f.branches, f.branch):
		return f.fail(ErrBranchNotFound, nil, "branch %s not found (branches: %s)",
			f.branch, listNames(f.branches))
	}
	return nil
}

// isAuthErr reports whether go-git refused err for missing or wrong
// credentials.
func isAuthErr(err error) bool {
	return errors.Is(err, transport.ErrAuthenticationRequired) ||
		errors.Is(err, transport.ErrAuthorizationFailed)
}

// authFail is the ErrRepoAuth error for cause.
func (f *fetcher) authFail(cause error) error {
	return f.fail(ErrRepoAuth, cause, "the credentials are missing or wrong (give user:password in "+
		"the URL or set %s and %s)", EnvGitUsername, EnvGitPassword)
}

// listNames joins up to 20 names.
func listNames(names []string) string {
	if len(names) > 20 {
		return strings.Join(names[:20], ", ") + fmt.Sprintf(" and %d more", len(names)-20)
	}
	return strings.Join(names, ", ")
}

// openOrClone fetches into the clone in dir, or clones into dir when it
// does not exist.
func (f *fetcher) openOrClone(dir string) (*git.Repository, bool, error) {
	_, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		repo, err := f.clone(dir)
		return repo, false, err
	}
	if err != nil {
		return nil, false, f.fail(ErrRepoFetch, err, "clone folder")
	}

	repo, err := git.PlainOpen(dir)
	if err != nil {
		return nil, false, f.fail(ErrRepoConflict, err, "%s exists but is not a usable clone; remove it", dir)
	}
	rc, err := repo.Remote("origin")
	if err != nil || len(rc.Config().URLs) == 0 {
		return nil, false, f.fail(ErrRepoConflict, err, "%s has no origin remote; remove it", dir)
	}
	if other, err := ParseRepoURL(rc.Config().URLs[0]); err != nil || other.Canonical() != f.u.Canonical() {
		return nil, false, f.fail(ErrRepoConflict, nil, "%s holds a clone of %s", dir,
			redactURL(rc.Config().URLs[0]))
	}

	f.log.Info("fetching plugin repository", "url", f.u.URL, "dir", dir)
	err = repo.FetchContext(f.ctx, &git.FetchOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*"},
		Auth:       f.auth,
		Progress:   f.o.Progress,
		Force:      true,
		Prune:      true,
	})
	if isAuthErr(err) {
		return nil, false, f.authFail(err)
	}
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, false, f.fail(ErrRepoFetch, err, "fetch")
	}
	return repo, true, nil
}

// clone clones into dir without a checkout; a failed clone is removed.
func (f *fetcher) clone(dir string) (*git.Repository, error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, f.fail(ErrRepoFetch, err, "clone folder")
	}

	f.log.Info("cloning plugin repository", "url", f.u.URL, "dir", dir, "branch", f.branch)
	repo, err := git.PlainCloneContext(f.ctx, dir, false, &git.CloneOptions{
		URL:           f.u.URL,
		Auth:          f.auth,
		RemoteName:    "origin",
		ReferenceName: plumbing.NewBranchReferenceName(f.branch),
		NoCheckout:    true,
		Progress:      f.o.Progress,
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		if isAuthErr(err) {
			return nil, f.authFail(err)
		}
		return nil, f.fail(ErrRepoFetch, err, "clone")
	}
	return repo, nil
}

// checkout points the local branch at the branch tip or at o.Commit and
// checks it out, discarding local changes. It returns the HEAD commit.
func (f *fetcher) checkout(repo *git.Repository) (plumbing.Hash, error) {
	ref, err := repo.Reference(plumbing.NewRemoteReferenceName("origin", f.branch), true)
	if err != nil {
		return plumbing.ZeroHash, f.fail(ErrBranchNotFound, err, "branch %s not fetched", f.branch)
	}
	target := ref.Hash()

	if f.o.Commit != "" {
		if target, err = f.commitInBranch(repo, target); err != nil {
			return plumbing.ZeroHash, err
		}
	}

	local := plumbing.NewBranchReferenceName(f.branch)
	if err := repo.Storer.SetReference(plumbing.NewHashReference(local, target)); err != nil {
		return plumbing.ZeroHash, f.fail(ErrRepoFetch, err, "set branch %s", f.branch)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return plumbing.ZeroHash, f.fail(ErrRepoFetch, err, "worktree")
	}
	if err := wt.Checkout(&git.CheckoutOptions{Branch: local, Force: true}); err != nil {
		return plumbing.ZeroHash, f.fail(ErrRepoFetch, err, "check out %s at %s", f.branch, target)
	}
	return target, nil
}

// commitInBranch resolves o.Commit and checks that the tip descends from it.
func (f *fetcher) commitInBranch(repo *git.Repository, tip plumbing.Hash) (plumbing.Hash, error) {
	h, err := repo.ResolveRevision(plumbing.Revision(strings.ToLower(f.o.Commit)))
	if err != nil {
		return plumbing.ZeroHash, f.fail(ErrCommitNotFound, nil, "commit %s not found", f.o.Commit)
	}
	c, err := repo.CommitObject(*h)
	if err != nil {
		return plumbing.ZeroHash, f.fail(ErrCommitNotFound, nil, "commit %s not found", f.o.Commit)
	}
	tipCommit, err := repo.CommitObject(tip)
	if err != nil {
		return plumbing.ZeroHash, f.fail(ErrRepoFetch, err, "branch %s tip %s", f.branch, tip)
	}
	ok, err := c.IsAncestor(tipCommit)
	if err != nil {
		return plumbing.ZeroHash, f.fail(ErrRepoFetch, err, "walk branch %s", f.branch)
	}
	if !ok {
		return plumbing.ZeroHash, f.fail(ErrCommitNotInBranch, nil, "commit %s not in branch %s",
			f.o.Commit, f.branch)
	}
	return c.Hash, nil
}

// maxSubmoduleDepth bounds submodule nesting.
const maxSubmoduleDepth = 8

// submodules initialises and updates the submodules of repo's worktree,
// and theirs. Credentials go only to submodules on the repository's own
// host; a submodule with a local URL is refused when the repository is
// not local itself, so a remote repository cannot make ventapp copy
// repositories from this machine.
func (f *fetcher) submodules(repo *git.Repository, depth int) error {
	wt, err := repo.Worktree()
	if err != nil {
		return f.fail(ErrRepoFetch, err, "worktree")
	}
	subs, err := wt.Submodules()
	if err != nil {
		return f.fail(ErrRepoFetch, err, "read .gitmodules")
	}
	if len(subs) > 0 && depth >= maxSubmoduleDepth {
		return f.fail(ErrRepoFetch, nil, "submodules nested deeper than %d", maxSubmoduleDepth)
	}

	for _, sub := range subs {
		cfg := sub.Config()
		auth, err := f.submoduleAuth(cfg.URL)
		if err != nil {
			return f.fail(ErrRepoFetch, nil, "submodule %s (%s): %v", cfg.Name, redactURL(cfg.URL), err)
		}
		f.log.Info("updating submodule", "url", f.u.URL, "submodule", cfg.Name, "path", cfg.Path)
		err = sub.UpdateContext(f.ctx, &git.SubmoduleUpdateOptions{Init: true, Auth: auth})
		if err != nil {
			return f.fail(ErrRepoFetch, err, "submodule %s (%s)", cfg.Name, redactURL(cfg.URL))
		}
		subRepo, err := sub.Repository()
		if err != nil {
			return f.fail(ErrRepoFetch, err, "submodule %s", cfg.Name)
		}
		if err := f.submodules(subRepo, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// submoduleAuth decides the credentials for a submodule URL: the
// repository's own for a relative URL or one on the same host, none for
// other hosts. Local URLs of a non-local repository are refused.
func (f *fetcher) submoduleAuth(raw string) (transport.AuthMethod, error) {
	if strings.HasPrefix(raw, "./") || strings.HasPrefix(raw, "../") {
		return f.auth, nil
	}
	u, err := ParseRepoURL(raw)
	if err != nil {
		return nil, err
	}
	switch {
	case u.Scheme == "file" && f.u.Scheme != "file":
		return nil, errors.New("a local submodule URL is refused for a remote repository")
	case u.Scheme == f.u.Scheme && strings.EqualFold(u.Host, f.u.Host):
		return f.auth, nil
	}
	return nil, nil
}

// repoError is an error whose text has been scrubbed of credentials. It
// unwraps to its sentinel and, when its text holds no secret, its cause.
type repoError struct {
	msg  string
	errs []error
}

// Error returns the scrubbed message.
func (e *repoError) Error() string { return e.msg }

// Unwrap returns the sentinel and the cause.
func (e *repoError) Unwrap() []error { return e.errs }

// fail builds "plugin repository <url>: <what>: <cause>", scrubbed,
// wrapping sentinel.
func (f *fetcher) fail(sentinel, cause error, format string, args ...any) error {
	msg := fmt.Sprintf("plugin repository %s: %s", f.u.URL, fmt.Sprintf(format, args...))
	errs := []error{sentinel}
	if cause != nil {
		// go-git ends some errors with ": " and an empty server message.
		msg += ": " + strings.TrimRight(strings.TrimSpace(cause.Error()), ": ")
		if f.scrub.clean(cause.Error()) {
			errs = append(errs, cause)
		}
		for _, ce := range []error{context.Canceled, context.DeadlineExceeded} {
			if errors.Is(cause, ce) && !slices.Contains(errs, cause) {
				errs = append(errs, ce)
			}
		}
	}
	return &repoError{msg: f.scrub.text(msg), errs: errs}
}
