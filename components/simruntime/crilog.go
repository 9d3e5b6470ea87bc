package simruntime

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// criLog writes a container's stdout and stderr to its log file in the
// CRI logging format the kubelet parses for `kubectl logs`:
//
//	2024-05-01T10:00:00.123456789Z stdout F a complete line
//	2024-05-01T10:00:00.123456789Z stderr P the first 16 KiB of a longer line
//
// Lines are split at 16 KiB like containerd does, and an unterminated
// last line is written as full when the stream closes.
type criLog struct {
	mu     sync.Mutex
	path   string
	f      *os.File
	now    func() time.Time
	closed bool
}

const maxLogLine = 16 * 1024

// openCRILog opens (appending) the log file; an empty path discards
// output, as a runtime does for a container without log_path.
func openCRILog(path string, now func() time.Time) (*criLog, error) {
	l := &criLog{path: path, now: now}
	if path == "" {
		return l, nil
	}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *criLog) open() error {
	if err := os.MkdirAll(filepath.Dir(l.path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	l.f = f
	return nil
}

// reopen follows the kubelet's log rotation: it renamed the file and asks
// for a fresh one at the same path.
func (l *criLog) reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.path == "" {
		return nil
	}
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
	return l.open()
}

func (l *criLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
}

// emit writes one CRI log line; the caller holds l.mu.
func (l *criLog) emit(stream, tag string, content []byte) {
	if l.f == nil {
		return
	}
	var b bytes.Buffer
	b.Grow(len(content) + 64)
	b.WriteString(l.now().UTC().Format(time.RFC3339Nano))
	b.WriteByte(' ')
	b.WriteString(stream)
	b.WriteByte(' ')
	b.WriteString(tag)
	b.WriteByte(' ')
	b.Write(content)
	b.WriteByte('\n')
	_, _ = l.f.Write(b.Bytes())
}

func (l *criLog) stream(name string) *logStream { return &logStream{l: l, name: name} }

type logStream struct {
	l    *criLog
	name string
	buf  []byte
}

func (s *logStream) Write(p []byte) (int, error) {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			break
		}
		if i > maxLogLine {
			s.l.emit(s.name, "P", s.buf[:maxLogLine])
			s.buf = s.buf[maxLogLine:]
			continue
		}
		s.l.emit(s.name, "F", s.buf[:i])
		s.buf = s.buf[i+1:]
	}
	for len(s.buf) > maxLogLine {
		s.l.emit(s.name, "P", s.buf[:maxLogLine])
		s.buf = s.buf[maxLogLine:]
	}
	if len(s.buf) == 0 {
		s.buf = nil
	}
	return len(p), nil
}

// flush writes an unterminated last line when the program ends.
func (s *logStream) flush() {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	if len(s.buf) > 0 {
		s.l.emit(s.name, "F", s.buf)
		s.buf = nil
	}
}
