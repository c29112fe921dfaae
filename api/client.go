package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
)

// ErrNoDaemon means no daemon answers on the socket.
var ErrNoDaemon = errors.New("ventapp daemon is not running")

// Client calls a daemon's API over its Unix socket.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client for the daemon listening on socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}
	return &Client{socket: socket, http: &http.Client{Transport: tr}}
}

// Do sends a request and decodes a JSON answer into out (when not nil).
// A non-2xx answer becomes an error carrying the daemon's message.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body io.Reader, out any) error {
	u := "http://ventapp" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%w (no answer on %s; start it with `ventapp serve`)", ErrNoDaemon, c.socket)
		}
		return fmt.Errorf("api %s: %w", c.socket, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode/100 != 2 {
		var e Error
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = string(bytes.TrimSpace(data))
		}
		return &StatusError{Code: resp.StatusCode, Message: strings.TrimSpace(e.Error), Kind: e.Kind}
	}
	if out == nil {
		return nil
	}
	if w, ok := out.(io.Writer); ok {
		_, err := io.Copy(w, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Get is Do with GET and no body.
func (c *Client) Get(ctx context.Context, path string, query url.Values, out any) error {
	return c.Do(ctx, http.MethodGet, path, query, nil, out)
}

// PostJSON is Do with POST and v encoded as JSON.
func (c *Client) PostJSON(ctx context.Context, path string, v any, out any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Do(ctx, http.MethodPost, path, nil, bytes.NewReader(data), out)
}

// StatusError is a daemon answer with a non-2xx status.
type StatusError struct {
	// Code is the HTTP status code.
	Code int

	// Message is the daemon's error message (or the body's text when it
	// was not a JSON Error).
	Message string

	// Kind is the answer's Error.Kind, such as KindGitCredentials; empty
	// when the daemon gave none.
	Kind string
}

// Error returns the daemon's message.
func (e *StatusError) Error() string { return e.Message }
