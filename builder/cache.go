package builder

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// runCacheVersion changes whenever what a RUN key covers changes, so old
// entries stop matching.
const runCacheVersion = 1

// runCache remembers the layer each RUN produced, one small JSON file per
// key in a directory. Entries are written atomically (temporary file and
// rename), so concurrent builds sharing the directory are safe.
type runCache struct {
	dir string
}

// runCacheEntry is what the cache keeps for one RUN.
type runCacheEntry struct {
	// Layer is the layer the command made; nil when it changed nothing.
	Layer *ocispec.Descriptor `json:"layer"`
}

// openRunCache creates dir if needed.
func openRunCache(dir string) (*runCache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: CacheDir %s: %s", ErrOptions, dir, err)
	}
	return &runCache{dir: dir}, nil
}

// runKey returns the cache key of op run on the layers diffIDs: everything
// the command's result depends on that the builder knows of. The command
// text is not expanded by the builder, so the environment (ENV and the ARG
// values in scope) stands for the variables it may use.
func runKey(diffIDs []digest.Digest, op *runOp, platform ocispec.Platform) string {
	parent := ""
	if len(diffIDs) > 0 {
		parent = identity.ChainID(diffIDs).String()
	}
	raw, _ := json.Marshal(struct {
		Version  int
		Platform string
		Parent   string
		Argv     []string
		Env      []string
		User     string
		Workdir  string
		Network  string
	}{runCacheVersion, platforms.Format(platform), parent, op.argv, op.env, op.user, op.workdir, op.network})
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// path returns the file of key.
func (c *runCache) path(key string) string {
	return filepath.Join(c.dir, "run-"+key+".json")
}

// get returns the entry of key. A missing or unreadable entry is a miss.
func (c *runCache) get(key string) (runCacheEntry, bool) {
	var e runCacheEntry
	raw, err := os.ReadFile(c.path(key))
	if err != nil {
		return e, false
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return e, false
	}
	if e.Layer != nil && e.Layer.Digest.Validate() != nil {
		return e, false
	}
	return e, true
}

// put records the layer a RUN made under key.
func (c *runCache) put(key string, layer *ocispec.Descriptor) error {
	raw, err := json.Marshal(runCacheEntry{Layer: layer})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.dir, ".run-*.tmp")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(raw)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), c.path(key)); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
