// Package ops holds ventapp's operations on a whole installation: backup,
// verify, restore and factory reset.
//
// # Archive
//
// A backup is one gzip-compressed tar file. Its members are
//
//	data/jobs.db               a snapshot of the bbolt job store, with the
//	                           plugin registry in its bucket "plugins"
//	data/index/...             the bleve search index
//	data/plugins.json          the plugin registry of a data dir that no
//	                           daemon of this version has opened yet (and
//	                           of every format 1 archive)
//	data/plugin_manifest.cfg   vent's manifest, as the daemon last wrote it
//	data/status.json           vent's per-job status lines
//	data/logs/...              raw plugin logs, only with BackupSource.IncludeLogs
//	config/vent.cfg            the config file, when there is one
//	plugins/<n>/...            the source folder (Dockerfile, template, build
//	                           context) of each installed plugin
//	MANIFEST.json              written last: the Manifest
//
// The manifest names every other member with its size and SHA-256, the
// archive format, the ventapp version that wrote it and the job store's
// schema version. [Verify] reads a whole archive and refuses it when a
// member is missing, extra, changed or cut short, naming the member.
//
// # Consistency
//
// The job store is copied inside one bbolt read transaction (Tx.WriteTo),
// so it is a consistent snapshot even while the daemon writes: the
// writer goes on and the copy sees the state of one commit. The plugin
// registry lives in the same file, and the list of plugin source folders
// to archive is read in that same transaction: the folders archived are
// those the snapshot's registry names (their files are read afterwards).
//
// The index is a folder of files that the daemon rewrites as it commits.
// A running daemon hands Backup an IndexSnapshot function that copies the
// live index with bleve's online copy (IndexCopyable.CopyTo), which reads
// one point-in-time snapshot of the segments. Without that function the
// files are read as they are, which is consistent only when nothing writes
// the index: the CLI does this only after it has checked that no daemon
// holds the job store. The index may lag the job store by the lines that
// were waiting for their batch commit (at most the flush interval); jobs
// whose lines were not yet committed are still recorded as done, so a
// restore can lose those few lines from search, never a job.
//
// # Schema versions
//
// Backup reads jobs/meta/schema_version inside the same read transaction
// and records it as Manifest.JobsSchema. Restore refuses an archive whose
// JobsSchema is above jobs.SchemaVersion (a backup from a newer ventapp)
// with ErrSchemaTooNew before anything is touched; an older schema is
// restored as it is and migrated by jobs.Open when the daemon starts.
// Manifest.Format versions the archive layout itself the same way: format
// 2 moved the registry from data/plugins.json into data/jobs.db, so a
// version that only knows format 1 refuses the archive instead of
// restoring it without its plugins.
//
// # Restore
//
// Restore refuses to run while a daemon answers on the API socket or holds
// the job store's lock, unless forced. It verifies the archive, extracts
// it into a new folder beside the data dir (checking every checksum again
// as it writes), points the registry at plugin source folders it restored
// under plugin-src/ (the records in the staged jobs.db, edited in one bbolt
// transaction, or the staged plugins.json of an older archive, which the
// daemon imports when it starts), and only then swaps that folder into
// place with one rename(2) exchange. The previous data dir is kept beside
// it under a .pre-restore name unless RestoreOptions.DiscardOld is set.
//
// # Reset
//
// Reset is vent's factory reset done right: it removes every container,
// image, snapshot, lease and content blob in ventapp's containerd
// namespace, then everything inside the data dir, and the drop folder's
// files only when asked. The Report lists each thing removed.
package ops
