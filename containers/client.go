package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
)

// DefaultNamespace is the containerd namespace used when Options.Namespace is
// empty.
const DefaultNamespace = "ventapp"

// connectTimeout bounds the first version call made by Connect.
const connectTimeout = 5 * time.Second

// cleanupTimeout bounds each removal step after a run, which must go on even
// when the caller's context is already cancelled.
const cleanupTimeout = 15 * time.Second

// Options configures Connect.
type Options struct {
	// Address is the path of containerd's gRPC socket (a "unix://" prefix is
	// accepted). It is required.
	Address string

	// Namespace is the containerd namespace that holds ventapp's images and
	// containers. Default: DefaultNamespace.
	Namespace string

	// FIFODir is where task stdio FIFOs are created. Default ("") is
	// containerd's own, /run/containerd/fifo.
	FIFODir string

	// Logger receives lifecycle and cleanup messages. Default: discard.
	Logger *slog.Logger

	// ServiceLogger is the executable containerd's shim runs to write a
	// service's output to its log file; it must call ServiceLogMain first
	// thing. Default: this program's own executable.
	ServiceLogger string
}

// Client runs containers in one namespace of one containerd. It is safe for
// concurrent use.
type Client struct {
	cli     *client.Client
	address string
	ns      string
	fifoDir string
	log     *slog.Logger
	logExe  string // see Options.ServiceLogger
}

// Connect dials containerd at opts.Address and checks that it answers. When
// the socket is missing or does not answer within a few seconds it returns an
// error wrapping ErrUnavailable that names the address.
func Connect(ctx context.Context, opts Options) (*Client, error) {
	if opts.Address == "" {
		return nil, fmt.Errorf("%w: no containerd socket address given", ErrUnavailable)
	}
	c := &Client{
		address: opts.Address,
		ns:      opts.Namespace,
		fifoDir: opts.FIFODir,
		log:     opts.Logger,
		logExe:  opts.ServiceLogger,
	}
	if c.ns == "" {
		c.ns = DefaultNamespace
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}

	// A missing socket is the common case (containerd not installed or not
	// running); say so plainly rather than after a dial timeout.
	path := strings.TrimPrefix(opts.Address, "unix://")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: containerd socket %s: %v", ErrUnavailable, path, err)
	}

	cli, err := client.New(opts.Address, client.WithDefaultNamespace(c.ns),
		client.WithTimeout(connectTimeout))
	if err != nil {
		return nil, fmt.Errorf("%w: dial containerd at %s: %v", ErrUnavailable, opts.Address, err)
	}
	c.cli = cli

	pctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	v, err := c.Ping(pctx)
	if err != nil {
		_ = cli.Close()
		return nil, err
	}
	c.log.Debug("connected to containerd", "address", opts.Address, "version", v, "namespace", c.ns)
	return c, nil
}

// Close closes the connection to containerd. Containers already removed are
// not affected; a Run still in progress fails.
func (c *Client) Close() error {
	return c.cli.Close()
}

// Ping asks containerd for its version, which proves it answers.
func (c *Client) Ping(ctx context.Context) (version string, err error) {
	v, err := c.cli.Version(c.nsCtx(ctx))
	if err != nil {
		return "", c.wrapErr(err, "ask containerd at %s for its version", c.address)
	}
	return v.Version, nil
}

// Raw returns the underlying containerd client, for code that needs more than
// this package offers (the image builder). Its default namespace is the
// Client's.
func (c *Client) Raw() *client.Client {
	return c.cli
}

// Namespace returns the containerd namespace the Client works in.
func (c *Client) Namespace() string {
	return c.ns
}

// nsCtx returns ctx carrying the Client's namespace.
func (c *Client) nsCtx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, c.ns)
}

// cleanupCtx returns a context for removal steps: it keeps ctx's values (the
// namespace) but not its cancellation, and has its own deadline.
func cleanupCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// removeTask deletes task (with opts) and treats a task already gone as
// deleted. When the task's shim goes away during the call, containerd
// answers "ttrpc: closed": another deleter (a service's supervisor, a
// concurrent sweep) or the shim's own exit won the race, and containerd
// cleans up a dead shim by itself. Such a call is tried again, up to three
// times, and a task then gone counts as deleted.
func removeTask(ctx context.Context, task client.Task, opts ...client.ProcessDeleteOpts) error {
	for attempt := 1; ; attempt++ {
		_, err := task.Delete(ctx, opts...)
		if err == nil || errdefs.IsNotFound(err) {
			return nil
		}
		if attempt == 3 || !strings.Contains(err.Error(), "ttrpc: closed") {
			return err
		}

		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
}

// wrapErr describes err from a containerd call, wrapping ErrUnavailable when
// the daemon could not be reached. Other errors keep their errdefs category.
func (c *Client) wrapErr(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if isUnavailable(err) {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, errgrpc.ToNative(err))
	}
	return fmt.Errorf("%s: %w", what, errgrpc.ToNative(err))
}

// isUnavailable reports whether err says containerd could not be reached.
func isUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) || errdefs.IsUnavailable(err) ||
		errdefs.IsUnavailable(errgrpc.ToNative(err)) {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}
