package jobs

import (
	"bytes"
	"fmt"

	"go.etcd.io/bbolt"
)

// migrateChunk is the most records one migration transaction rewrites, so
// that migrating a large store does not hold every record in memory. A
// test lowers it to cross chunk boundaries.
var migrateChunk = 10000

// migrate rewrites the JSON job and file records of a schema 1 store in
// the binary form of schema 2. It runs before the writer starts, in
// transactions of migrateChunk records; the caller then stores the new
// schema version. A crash part way leaves a mix of both forms, which the
// decoders read, and the next Open finishes the work.
func (s *Store) migrate() error {
	jobs, err := s.migrateBucket(bucketJob, func(k, v []byte) ([]byte, error) {
		j, err := decodeJob(string(k), v)
		if err != nil {
			return nil, err
		}
		return encodeJob(make([]byte, 0, jobSize(&j)), &j), nil
	})
	if err != nil {
		return err
	}

	files, err := s.migrateBucket(bucketFile, func(k, v []byte) ([]byte, error) {
		rec, err := parseFile(v)
		if err != nil {
			return nil, fmt.Errorf("file record %s: %v: %w", k, err, ErrCorrupt)
		}
		return encodeFile(nil, &rec), nil
	})
	if err != nil {
		return err
	}

	s.log.Info("job store migrated to binary records", "path", s.path, "from", 1, "to", SchemaVersion,
		"jobs", jobs, "files", files)
	return nil
}

// migrateBucket rewrites every JSON value of jobs/<name> with convert and
// returns how many it rewrote.
func (s *Store) migrateBucket(name []byte, convert func(k, v []byte) ([]byte, error)) (int, error) {
	var after []byte
	total := 0
	for {
		var n int
		err := s.db.Update(func(tx *bbolt.Tx) error {
			root := tx.Bucket(bucketRoot)
			if root == nil || root.Bucket(name) == nil {
				return fmt.Errorf("bucket jobs/%s is missing: %w", name, ErrCorrupt)
			}
			b := root.Bucket(name)

			var keys, vals [][]byte
			c := b.Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(keys) < migrateChunk; k, v = c.Next() {
				after = append(after[:0], k...)
				if len(v) == 0 || v[0] != '{' {
					continue
				}
				nv, err := convert(k, v)
				if err != nil {
					return err
				}
				keys = append(keys, append([]byte(nil), k...))
				vals = append(vals, nv)
			}
			if k == nil {
				after = nil
			}

			for i, key := range keys {
				if err := b.Put(key, vals[i]); err != nil {
					return fmt.Errorf("rewriting %s/%s: %w", name, key, err)
				}
			}
			n = len(keys)
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if after == nil {
			return total, nil
		}
	}
}
