package jobs

import "time"

// MaxLogTail is the most output lines a job keeps; Finish keeps the last
// MaxLogTail of the lines it is given.
const MaxLogTail = 200

// Job is one run of one tool on one version of one file.
type Job struct {
	// ID is assigned by the store: 12 decimal digits that sort in creation
	// order.
	ID string `json:"id"`
	// File is the absolute path of the input file.
	File string `json:"file"`
	// FileSHA256 is the lowercase hex SHA-256 of the content the job is for.
	FileSHA256 string `json:"file_sha256"`
	// FileSize is the size in bytes of that content.
	FileSize int64 `json:"file_size"`
	// Tool is the name of the plugin to run.
	Tool string `json:"tool"`
	// State is where the job is in its lifecycle.
	State State `json:"state"`
	// Attempts counts how many times Next has handed the job out.
	Attempts int `json:"attempts"`
	// CreatedAt is when AddFile made the job.
	CreatedAt time.Time `json:"created_at"`
	// StartedAt is when the current or last attempt started; zero before
	// the first.
	StartedAt time.Time `json:"started_at,omitzero"`
	// FinishedAt is when the job reached a final state; zero otherwise.
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// NotBefore holds a queued job back until that time; zero means now.
	NotBefore time.Time `json:"not_before,omitzero"`
	// ExitCode is the tool's exit status once finished, if it had one.
	ExitCode *int `json:"exit_code,omitempty"`
	// Reason says in words why the job failed, was retried, recovered,
	// requeued or cancelled.
	Reason string `json:"reason,omitempty"`
	// LogTail holds the last lines of the tool's output, as given to Finish.
	LogTail []string `json:"log_tail,omitempty"`
	// Container is the containerd container id of the current or last
	// attempt, as given to SetContainer.
	Container string `json:"container,omitempty"`
}

// FileRecord is what the ledger knows about one path.
type FileRecord struct {
	// Path is the absolute path of the file.
	Path string `json:"path"`
	// Size is the file size in bytes.
	Size int64 `json:"size"`
	// ModTime is the file's modification time.
	ModTime time.Time `json:"mod_time"`
	// SHA256 is the lowercase hex SHA-256 of the content.
	SHA256 string `json:"sha256"`
	// SeenAt is when the file was last recorded; AddFile fills it in when
	// it is zero.
	SeenAt time.Time `json:"seen_at"`
}

// Filter selects jobs for List. Zero fields select everything.
type Filter struct {
	// State keeps only jobs in this state.
	State State
	// Tool keeps only jobs for this tool.
	Tool string
	// File keeps only jobs whose path contains this substring.
	File string
	// Limit caps the number of jobs returned; 0 means no cap.
	Limit int
	// Offset skips this many matching jobs first.
	Offset int
	// Newest lists the most recently created jobs first.
	Newest bool
}
