package api

import (
	"io"
	"os"
	"syscall"
)

// logTail sends one service log file as it grows, for `plugins logs -f`.
// It keeps the file it reads open, so that a file the logging process
// moves aside to "<path>.1", or that is deleted, while the reader is
// behind is still sent to its end before the new one. One file moved aside
// after that one is sent too, from "<path>.1"; a reader more than two
// files behind skips what is between.
type logTail struct {
	path string
	f    *os.File // nil until the file is there
	ino  uint64
	// aside is the file at "<path>.1" when last looked at, already sent
	// or never to be. It is held open so that its inode number cannot be
	// given to a new file meanwhile.
	aside *os.File
}

// send copies what is new in the log to w, calling before first when
// there is something to copy.
func (lt *logTail) send(w io.Writer, before func()) error {
	defer lt.noteAside()
	if lt.f == nil && !lt.open(lt.path) {
		return nil
	}
	if err := lt.copy(w, before); err != nil {
		return err
	}

	ino := inode(lt.path)
	if ino == 0 || ino == lt.ino {
		// The same file, or none at path: go on with the one held.
		return nil
	}
	// Another file at path: the held one was moved aside, and what it got
	// before that is all it gets.
	if err := lt.copy(w, before); err != nil {
		return err
	}
	held := lt.ino
	lt.close()
	mid := inode(lt.path + ".1")
	if mid != 0 && mid != held && mid != ino && mid != fileInode(lt.aside) && lt.open(lt.path+".1") {
		err := lt.copy(w, before)
		lt.close()
		if err != nil {
			return err
		}
	}
	if !lt.open(lt.path) {
		return nil
	}
	return lt.copy(w, before)
}

// open opens the file at path as the one held, and reports whether it
// could.
func (lt *logTail) open(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || ino(fi) == 0 {
		f.Close()
		return false
	}
	lt.f, lt.ino = f, ino(fi)
	return true
}

// copy sends the held file from where it was left to its present end. A
// file now shorter than that was emptied: it is sent from its start.
func (lt *logTail) copy(w io.Writer, before func()) error {
	fi, err := lt.f.Stat()
	if err != nil {
		return nil
	}
	off, err := lt.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil
	}
	if fi.Size() < off {
		if off, err = lt.f.Seek(0, io.SeekStart); err != nil {
			return nil
		}
	}
	if fi.Size() == off {
		return nil
	}
	before()
	_, err = io.Copy(w, io.LimitReader(lt.f, fi.Size()-off))
	return err
}

// noteAside holds the file now at "<path>.1" as seen.
func (lt *logTail) noteAside() {
	if lt.aside != nil {
		lt.aside.Close()
	}
	lt.aside, _ = os.Open(lt.path + ".1")
}

// close lets go of the held file.
func (lt *logTail) close() {
	if lt.f != nil {
		lt.f.Close()
		lt.f = nil
	}
}

// closeAll lets go of every file held.
func (lt *logTail) closeAll() {
	lt.close()
	if lt.aside != nil {
		lt.aside.Close()
		lt.aside = nil
	}
}

// fileInode returns the inode number of an open file, or 0.
func fileInode(f *os.File) uint64 {
	if f == nil {
		return 0
	}
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	return ino(fi)
}

// inode returns the inode number of the file at path, or 0.
func inode(path string) uint64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return ino(fi)
}

// ino is the inode number in fi, or 0.
func ino(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
