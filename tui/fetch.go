package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/ventapp/ventapp/api"
	"github.com/ventapp/ventapp/capture"
	"github.com/ventapp/ventapp/engine"
	"github.com/ventapp/ventapp/gpu"
	"github.com/ventapp/ventapp/index"
	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
)

// Client is the part of *api.Client the TUI uses; tests may pass any
// implementation.
type Client interface {
	Do(ctx context.Context, method, path string, query url.Values, body io.Reader, out any) error
}

// requestTimeout bounds one refresh or action.
const requestTimeout = 10 * time.Second

// processTimeout bounds a request to run a plugin on the files already
// dropped: the daemon hashes the files it has not recorded yet.
const processTimeout = 10 * time.Minute

// Page sizes.
const (
	jobsLimit   = 200
	searchLimit = 50
)

// tickMsg asks for a refresh.
type tickMsg struct{}

// refreshMsg carries what one refresh fetched.
type refreshMsg struct {
	gen       int
	err       error // the status call's error: set means the daemon is unreachable or broken
	status    engine.Status
	jobs      []jobs.Job
	jobsErr   error
	job       *jobs.Job
	jobErr    error
	plugins   []*plugins.Plugin
	pluginErr error
	taps      []capture.Status
	tapsErr   error
	gpus      []gpu.Device
	gpusErr   error
}

// searchMsg carries one page of search results.
type searchMsg struct {
	res index.Result
	err error
}

// actionMsg reports the result of a state-changing request.
type actionMsg struct {
	done string
	err  error
}

// gpuAnswer is /api/v1/gpus in either shape: a list of devices or a
// report with a devices list.
type gpuAnswer struct {
	devices []gpu.Device
}

func (g *gpuAnswer) UnmarshalJSON(data []byte) error {
	var rep struct {
		Devices []gpu.Device `json:"devices"`
	}
	if len(data) > 0 && data[0] == '[' {
		return jsonUnmarshal(data, &g.devices)
	}
	if err := jsonUnmarshal(data, &rep); err != nil {
		return err
	}
	g.devices = rep.Devices
	return nil
}

// isNotFound reports whether err is a 404 answer.
func isNotFound(err error) bool {
	var se *api.StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

// isUnreachable reports whether err means the daemon could not be asked at
// all (as opposed to an answer with an error status).
func isUnreachable(err error) bool {
	var se *api.StatusError
	return err != nil && !errors.As(err, &se)
}

// fetch gathers the status and what screen s shows.
func fetch(c Client, gen int, s screen, jobFilter url.Values, jobID string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()

		msg := refreshMsg{gen: gen}
		msg.err = c.Do(ctx, http.MethodGet, "/api/v1/status", nil, nil, &msg.status)
		if isUnreachable(msg.err) {
			return msg
		}
		switch s {
		case scrOverview:
			msg.tapsErr = c.Do(ctx, http.MethodGet, "/api/v1/taps", nil, nil, &msg.taps)
			var g gpuAnswer
			msg.gpusErr = c.Do(ctx, http.MethodGet, "/api/v1/gpus", nil, nil, &g)
			msg.gpus = g.devices
		case scrJobs:
			q := url.Values{"limit": {strconv.Itoa(jobsLimit)}}
			for k, v := range jobFilter {
				q[k] = v
			}
			msg.jobsErr = c.Do(ctx, http.MethodGet, "/api/v1/jobs", q, nil, &msg.jobs)
		case scrJob:
			var j jobs.Job
			msg.jobErr = c.Do(ctx, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(jobID), nil, nil, &j)
			if msg.jobErr == nil {
				msg.job = &j
			}
		case scrPlugins:
			msg.pluginErr = c.Do(ctx, http.MethodGet, "/api/v1/plugins", nil, nil, &msg.plugins)
		case scrTaps:
			msg.tapsErr = c.Do(ctx, http.MethodGet, "/api/v1/taps", nil, nil, &msg.taps)
		}
		return msg
	}
}

// search runs one query.
func search(c Client, text string, offset int) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		q := url.Values{"q": {text}, "limit": {strconv.Itoa(searchLimit)}, "offset": {strconv.Itoa(offset)}}
		var res index.Result
		err := c.Do(ctx, http.MethodGet, "/api/v1/search", q, nil, &res)
		return searchMsg{res: res, err: err}
	}
}

// act sends one state-changing request; done says what happened on success.
// processDropped asks the daemon to run tool on the files already in the
// drop folder that it claims and has not run on.
func processDropped(c Client, tool string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), processTimeout)
		defer cancel()

		var s engine.Status
		if err := c.Do(ctx, http.MethodGet, "/api/v1/status", nil, nil, &s); err != nil {
			return actionMsg{err: err}
		}
		body, err := json.Marshal(api.ProcessRequest{Paths: []string{s.Drop.Folder}, Tools: []string{tool}})
		if err != nil {
			return actionMsg{err: err}
		}
		var res []engine.ProcessResult
		if err := c.Do(ctx, http.MethodPost, "/api/v1/process", nil, bytes.NewReader(body), &res); err != nil {
			return actionMsg{err: err}
		}

		queued, files := 0, 0
		for _, r := range res {
			if len(r.Jobs) > 0 {
				queued += len(r.Jobs)
				files++
			}
		}
		return actionMsg{done: fmt.Sprintf("%s: %s queued for %s already in the drop folder",
			tool, plural(queued, "job"), plural(files, "file"))}
	}
}

func act(c Client, method, path, done string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		return actionMsg{done: done, err: c.Do(ctx, method, path, nil, nil, nil)}
	}
}

// plural is "1 file" or "n files".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
