package jobs

import (
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// txn wraps one bbolt transaction with the package's buckets. Every write
// goes through its methods, which set dirty, so the writer can tell a
// request that failed before writing anything from one that must be rolled
// back.
type txn struct {
	tx      *bbolt.Tx
	job     *bbolt.Bucket
	file    *bbolt.Bucket
	fileJob *bbolt.Bucket
	count   *bbolt.Bucket
	state   [5]*bbolt.Bucket

	// dirty is set by every write; the writer clears it before each request.
	dirty bool
	// deltas collects counter changes, written once by flush.
	deltas [5]int64
	// wake is set when a job became queued.
	wake bool
}

// appendFill is the fill percent for buckets keyed by job id. New ids are
// always the largest key, so pages split at the end can be filled almost
// full instead of bbolt's default half, halving the pages a commit writes.
const appendFill = 0.9

// newTxn looks up the package's buckets in tx.
func newTxn(tx *bbolt.Tx) (*txn, error) {
	root := tx.Bucket(bucketRoot)
	if root == nil {
		return nil, fmt.Errorf("bucket jobs is missing: %w", ErrCorrupt)
	}
	t := &txn{
		tx:      tx,
		job:     root.Bucket(bucketJob),
		file:    root.Bucket(bucketFile),
		fileJob: root.Bucket(bucketFileJob),
		count:   root.Bucket(bucketCount),
	}
	states := root.Bucket(bucketState)
	if t.job == nil || t.file == nil || t.fileJob == nil || t.count == nil || states == nil {
		return nil, fmt.Errorf("a bucket under jobs is missing: %w", ErrCorrupt)
	}
	for i, st := range allStates {
		if t.state[i] = states.Bucket([]byte(st)); t.state[i] == nil {
			return nil, fmt.Errorf("bucket jobs/state/%s is missing: %w", st, ErrCorrupt)
		}
		t.state[i].FillPercent = appendFill
	}
	t.job.FillPercent = appendFill
	return t, nil
}

// index returns the state bucket for st.
func (t *txn) index(st State) (*bbolt.Bucket, error) {
	i := st.index()
	if i < 0 {
		return nil, fmt.Errorf("%q: %w", st, ErrBadState)
	}
	return t.state[i], nil
}

// get loads the job with the given id.
func (t *txn) get(id string) (Job, error) {
	raw := t.job.Get([]byte(id))
	if raw == nil {
		return Job{}, fmt.Errorf("job %q: %w", id, ErrNotFound)
	}
	return decodeJob(id, raw)
}

func decodeJob(id string, raw []byte) (Job, error) {
	j, err := parseJob(raw)
	if err != nil {
		return Job{}, fmt.Errorf("job %q: decoding record: %v: %w", id, err, ErrCorrupt)
	}
	return j, nil
}

// newID takes the next job number from the job bucket's sequence.
func (t *txn) newID() (string, error) {
	t.dirty = true
	n, err := t.job.NextSequence()
	if err != nil {
		return "", fmt.Errorf("next job id: %w", err)
	}
	return fmt.Sprintf("%012d", n), nil
}

// put stores j's record.
func (t *txn) put(j *Job) error {
	raw := encodeJob(make([]byte, 0, jobSize(j)), j)
	t.dirty = true
	if err := t.job.Put([]byte(j.ID), raw); err != nil {
		return fmt.Errorf("job %s: storing record: %w", j.ID, err)
	}
	return nil
}

// move changes j's state from its current one to `to`, keeping the state
// buckets and counters in step, and stores the record. from is "" for a
// job that did not exist before.
func (t *txn) move(j *Job, to State) error {
	from := j.State
	if from != "" {
		b, err := t.index(from)
		if err != nil {
			return err
		}
		t.dirty = true
		if err := b.Delete([]byte(j.ID)); err != nil {
			return fmt.Errorf("job %s: leaving %s: %w", j.ID, from, err)
		}
		t.deltas[from.index()]--
	}

	b, err := t.index(to)
	if err != nil {
		return err
	}
	var val []byte
	if to == Queued {
		val = encodeTime(j.NotBefore)
		t.wake = true
	}
	t.dirty = true
	if err := b.Put([]byte(j.ID), val); err != nil {
		return fmt.Errorf("job %s: entering %s: %w", j.ID, to, err)
	}
	t.deltas[to.index()]++

	j.State = to
	return t.put(j)
}

// flush adds the collected deltas to the stored counters.
func (t *txn) flush() error {
	for i, d := range t.deltas {
		if d == 0 {
			continue
		}
		key := []byte(allStates[i])
		n := int64(decodeUint(t.count.Get(key))) + d
		if n < 0 {
			return fmt.Errorf("counter %s would go below zero: %w", allStates[i], ErrCorrupt)
		}
		if err := t.count.Put(key, encodeUint(uint64(n))); err != nil {
			return fmt.Errorf("counter %s: %w", allStates[i], err)
		}
		t.deltas[i] = 0
	}
	return nil
}

// counts reads the stored counters.
func (t *txn) counts() map[State]int {
	m := make(map[State]int, len(allStates))
	for _, st := range allStates {
		m[st] = int(decodeUint(t.count.Get([]byte(st))))
	}
	return m
}

// encodeTime gives the queued-index value for a NotBefore time.
func encodeTime(tm time.Time) []byte {
	if tm.IsZero() {
		return encodeUint(0)
	}
	return encodeUint(uint64(tm.UnixNano()))
}

// decodeTime reverses encodeTime; 0 is "no time".
func decodeTime(b []byte) int64 {
	return int64(decodeUint(b))
}

func encodeUint(n uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, n)
}

func decodeUint(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// fileJobKey is the key of the filejob bucket for one (path, sha, tool).
func fileJobKey(path, sha, tool string) []byte {
	k := make([]byte, 0, len(path)+len(sha)+len(tool)+2)
	k = append(k, path...)
	k = append(k, 0)
	k = append(k, sha...)
	k = append(k, 0)
	return append(k, tool...)
}
