// Package drop watches ventapp's drop folder and reports files that are
// ready to be processed, and places files into that folder atomically.
//
// # Readiness
//
// Linux gives no portable "writer closed the file" event through fsnotify,
// so a [Watcher] decides that a regular file is ready in one of two ways:
//
//   - Renamed or linked into place: the file appears (a Create event) and no
//     Write event follows within Options.Settle, and two stats taken at least
//     Settle apart agree on size, modification time and inode. Files moved in
//     whole are therefore reported within a few milliseconds. Empty files do
//     not take this path; they wait for the quiet period.
//   - Written in place: every Write (or Chmod) event restarts a timer, and the
//     file is ready once Options.Quiet has passed with no event and a fresh
//     stat shows no change (or shows a modification time older than Quiet).
//
// A full rescan runs at start, after the kernel event queue overflows, on
// request ([Watcher.Rescan]) and every Options.Rescan. A rescan reports every
// regular file whose modification time is older than Quiet and holds back
// the others until they have been quiet. The same file can therefore be
// reported more than once (after each rescan, and again whenever it changes);
// consumers deduplicate by path, size, modification time or content hash.
//
// # What is never reported
//
//   - Names for which [Ignored] reports true, and anything below a directory
//     whose name starts with a dot.
//   - Symbolic links. The watcher never follows one: a link to a file is
//     skipped, a link to a directory is not descended into, and before a file
//     is reported every directory between the root and the file is checked
//     with lstat so that a directory swapped for a link is caught. The root
//     itself may be a symbolic link (the kernel resolves it on each access);
//     nothing below it is followed.
//   - Fifos, sockets and device nodes.
//   - Files that vanish before they are ready (logged at debug level).
//   - Files that cannot be opened for reading; they go to Options.OnError and
//     the log instead (once per unchanged file), and are tried again after a
//     Chmod event and at every rescan.
//
// When a directory cannot be watched (for example when the inotify watch
// limit is reached) a warning names it and its files are found by the
// periodic rescan instead.
//
// The package targets Linux (inotify).
package drop
