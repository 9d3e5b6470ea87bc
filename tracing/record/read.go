package record

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// Recording is a recording read into memory.
type Recording struct {
	// Name is the file name (or what the caller passed to Read), used in
	// messages.
	Name          string
	FormatVersion int
	Started       time.Time
	// Events are in the order recorded, with strictly increasing Seq.
	// Detail values are what encoding/json decodes into an any: numbers
	// are float64, lists []any, objects map[string]any.
	Events []tracing.Event
}

// Open reads the recording at path.
func Open(path string) (*Recording, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open trace recording: %w", err)
	}
	defer f.Close()
	return Read(f, path)
}

// Read reads a recording from r; name is the file name for messages. It
// checks the header, that every line is an event, and that seqs increase,
// and names the line of the first problem. Blank lines are ignored. Fields
// it does not know are ignored too: adding a field does not change the
// format version.
func Read(r io.Reader, name string) (*Recording, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	lineNo := 0
	// readLine returns the next line without its newline, or io.EOF.
	// Lines can be long (an event may carry a whole object), so no fixed
	// line limit as with bufio.Scanner.
	readLine := func() ([]byte, error) {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			lineNo++
			return bytes.TrimRight(line, "\r\n"), nil
		}
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read %s: %w", name, err)
	}

	first, err := readLine()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s is not a Wheelhouse trace recording: it is empty", name)
	}
	if err != nil {
		return nil, err
	}
	rec, err := parseHeader(first, name)
	if err != nil {
		return nil, err
	}

	var prev uint64
	for {
		line, err := readLine()
		if errors.Is(err, io.EOF) {
			return rec, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var ev tracing.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			return nil, fmt.Errorf("%s:%d: malformed event: %w", name, lineNo, err)
		}
		switch {
		case ev.Kind == "":
			return nil, fmt.Errorf("%s:%d: malformed event: no \"kind\"", name, lineNo)
		case ev.Seq == 0:
			return nil, fmt.Errorf("%s:%d: malformed event: no \"seq\" (every recorded event has one)", name, lineNo)
		case ev.Seq <= prev:
			return nil, fmt.Errorf("%s:%d: event seq %d is not greater than the previous event's seq %d", name, lineNo, ev.Seq, prev)
		}
		prev = ev.Seq
		rec.Events = append(rec.Events, ev)
	}
}

// parseHeader checks the first line of a recording.
func parseHeader(line []byte, name string) (*Recording, error) {
	notTrace := func(why string, args ...any) error {
		return fmt.Errorf("%s is not a Wheelhouse trace recording: %s", name, fmt.Sprintf(why, args...))
	}
	// Pointers tell a missing field from a zero one.
	var h struct {
		WheelhouseTrace *int       `json:"wheelhouseTrace"`
		FormatVersion   *int       `json:"formatVersion"`
		Started         *time.Time `json:"started"`
	}
	if err := json.Unmarshal(line, &h); err != nil {
		return nil, notTrace("line 1 is not a JSON header object (%v)", err)
	}
	if h.WheelhouseTrace == nil || *h.WheelhouseTrace != 1 {
		return nil, notTrace(`line 1 does not start with the header {"wheelhouseTrace": 1, …}`)
	}
	if h.FormatVersion == nil || *h.FormatVersion < 1 {
		return nil, notTrace(`the header has no "formatVersion"`)
	}
	if *h.FormatVersion > tracing.FormatVersion {
		return nil, fmt.Errorf("%s uses trace format version %d, but this Wheelhouse reads version %d: use a newer Wheelhouse",
			name, *h.FormatVersion, tracing.FormatVersion)
	}
	rec := &Recording{Name: name, FormatVersion: *h.FormatVersion}
	if h.Started != nil {
		rec.Started = *h.Started
	}
	return rec, nil
}
