// Package jobs is ventapp's durable job queue and file ledger.
//
// Every file that ventapp sees is recorded by absolute path, size,
// modification time and SHA-256. For each plugin tool that wants the file
// there is one job, identified by (path, SHA-256, tool). A job moves
// through these states:
//
//	queued ──Next──▶ running ──Finish──▶ done | failed | cancelled
//	  │  ▲              │
//	  │  └─Retry/Recover┘
//	  └──Cancel──▶ cancelled
//	done | failed | cancelled ──Requeue──▶ queued
//
// Because the ledger remembers which content every tool has already been
// given, a restart does not run finished work again, while new content
// written to the same path is new work.
//
// # Storage
//
// The state lives in a bbolt file. The package owns one top-level bucket,
// "jobs", so other packages may keep their own buckets in the same file
// (see [Store.DB]). Inside it:
//
//	jobs
//	├── meta
//	│   └── schema_version  → decimal ASCII, currently "2" (SchemaVersion)
//	├── job                 (sequence = last job number handed out)
//	│   └── <id>            → binary Job; id is the sequence, 12 digits zero-padded
//	├── file
//	│   └── <abs path>      → binary FileRecord, the last one seen for the path
//	├── filejob
//	│   └── <path>\x00<sha256>\x00<tool> → <id>, the job made for that content
//	├── state
//	│   ├── queued          → <id> → 8-byte big-endian NotBefore in Unix ns (0: none)
//	│   ├── running         → <id> → empty
//	│   ├── done            → <id> → empty
//	│   ├── failed          → <id> → empty
//	│   └── cancelled       → <id> → empty
//	└── count
//	    └── <state>         → 8-byte big-endian number of jobs in that state
//
// Each job's id appears in exactly one state bucket, the one naming its
// state, and the counters agree with those buckets; [Store.Check] verifies
// both. Ids sort in creation order, so a cursor over "state/queued" visits
// the oldest queued job first and [Store.Next] never reads finished jobs.
//
// Records are in a compact binary form described in record.go; encoding
// them as JSON, as schema 1 did, took half of the writer's CPU time. Open
// rewrites the JSON records of a schema 1 store and then stores the new
// version; the decoders read both forms, so a migration cut short by a
// crash is finished by the next Open.
//
// A store whose schema_version is above SchemaVersion is refused with
// [ErrSchemaTooNew] and left untouched. A future version that changes the
// layout bumps SchemaVersion and migrates older files in Open.
//
// # Group commit
//
// All writes go through one writer goroutine. It takes every request that
// is waiting, applies them in order inside a single bbolt transaction and
// answers each caller after the commit, so a burst of writes from many
// goroutines costs one fsync per group instead of one per write. A request
// that fails before it wrote anything is answered with its error and the
// rest of the group goes on; one that fails after writing makes the group
// roll back and run again without it. Either way each request is atomic.
package jobs
