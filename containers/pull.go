package containers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
)

// ErrPull is returned by Pull when the registry cannot be reached or does
// not have the image.
var ErrPull = errors.New("cannot pull image")

// pullTimeout bounds each HTTP request to a registry, so an unreachable one
// fails in seconds on an air-gapped box instead of hanging.
const pullTimeout = 30 * time.Second

// PullOptions configure Pull.
type PullOptions struct {
	// PlainHTTP lists registry hosts ("host:port") spoken to over plain
	// HTTP. localhost, 127.0.0.1 and ::1 always are, as docker does.
	PlainHTTP []string

	// Username and Password authenticate to the registry; empty for
	// anonymous pulls. They are never logged.
	Username, Password string
}

// Pull fetches ref from its registry (Docker Hub for a short name like
// "debian:bookworm"), stores it under its normalised name, for example
// "docker.io/library/debian:bookworm", and unpacks it for Snapshotter. It
// returns the stored image. Errors wrap ErrPull, naming ref, when the
// registry cannot be reached or refuses; ErrUnavailable when containerd
// cannot.
func (c *Client) Pull(ctx context.Context, ref string, o PullOptions) (ImageInfo, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return ImageInfo{}, fmt.Errorf("%w: %q is not an image reference: %w", ErrPull, ref, err)
	}
	name := named.String()
	ctx = c.nsCtx(ctx)

	plain := func(host string) (bool, error) {
		for _, h := range o.PlainHTTP {
			if h == host {
				return true, nil
			}
		}
		return docker.MatchLocalhost(host)
	}
	hostOpts := []docker.RegistryOpt{
		docker.WithPlainHTTP(plain),
		docker.WithClient(&http.Client{Timeout: pullTimeout}),
	}
	if o.Username != "" {
		user, pass := o.Username, o.Password
		hostOpts = append(hostOpts, docker.WithAuthorizer(docker.NewDockerAuthorizer(
			docker.WithAuthCreds(func(string) (string, string, error) { return user, pass, nil }))))
	}
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(hostOpts...),
	})

	start := time.Now()
	img, err := c.cli.Pull(ctx, name,
		client.WithResolver(resolver),
		client.WithPullUnpack,
		client.WithPullSnapshotter(Snapshotter),
		client.WithPlatformMatcher(platforms.Default()),
	)
	if err != nil {
		if isUnavailable(err) && ctx.Err() == nil && c.pingFails(ctx) {
			return ImageInfo{}, c.wrapErr(err, "pull %s", name)
		}
		return ImageInfo{}, fmt.Errorf("%w %s: %w", ErrPull, name, err)
	}

	size, _ := img.Size(ctx)
	rec := img.Metadata()
	c.log.Info("pulled image", "image", name, "digest", rec.Target.Digest.String(),
		"took", time.Since(start).Round(time.Millisecond))
	return ImageInfo{
		Name: rec.Name, Digest: rec.Target.Digest.String(), Size: size,
		Created: rec.CreatedAt, Labels: rec.Labels,
	}, nil
}

// pingFails reports whether containerd itself does not answer, to tell a
// registry that is down from a containerd that is.
func (c *Client) pingFails(ctx context.Context) bool {
	pctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	_, err := c.Ping(pctx)
	return err != nil
}
