package plugins

import (
	"context"
	"fmt"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// CheckoutCommit puts the clone that holds dir back at commit on branch,
// as a rollback needs: the local branch is pointed at commit and the
// worktree is reset to it, discarding local changes, and submodules are
// set to the commits it records from what the clone already holds. Nothing
// is fetched, so it works offline; commit must be in the clone's history.
// Errors wrap ErrCommitNotFound or ErrRepoFetch and name the folder.
func CheckoutCommit(ctx context.Context, dir, branch, commit string) error {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return fmt.Errorf("%w: %s is not in a git clone: %w", ErrRepoFetch, dir, err)
	}
	h, err := repo.ResolveRevision(plumbing.Revision(strings.ToLower(commit)))
	if err != nil {
		return fmt.Errorf("%w: commit %s is not in the clone at %s", ErrCommitNotFound, commit, dir)
	}
	if _, err := repo.CommitObject(*h); err != nil {
		return fmt.Errorf("%w: commit %s is not in the clone at %s", ErrCommitNotFound, commit, dir)
	}

	wt, err := repo.Worktree()
	if err != nil {
		return fmt.Errorf("%w: clone at %s: %w", ErrRepoFetch, dir, err)
	}
	opts := &git.CheckoutOptions{Hash: *h, Force: true}
	if branch != "" {
		local := plumbing.NewBranchReferenceName(branch)
		if err := repo.Storer.SetReference(plumbing.NewHashReference(local, *h)); err != nil {
			return fmt.Errorf("%w: clone at %s: set branch %s: %w", ErrRepoFetch, dir, branch, err)
		}
		opts = &git.CheckoutOptions{Branch: local, Force: true}
	}
	if err := wt.Checkout(opts); err != nil {
		return fmt.Errorf("%w: clone at %s: check out %s: %w", ErrRepoFetch, dir, commit, err)
	}

	subs, err := wt.Submodules()
	if err != nil {
		return fmt.Errorf("%w: clone at %s: submodules: %w", ErrRepoFetch, dir, err)
	}
	for _, sub := range subs {
		err := sub.UpdateContext(ctx, &git.SubmoduleUpdateOptions{Init: true, NoFetch: true})
		if err != nil {
			return fmt.Errorf("%w: clone at %s: submodule %s at the commit %s records: %w",
				ErrRepoFetch, dir, sub.Config().Path, commit, err)
		}
	}
	return nil
}
