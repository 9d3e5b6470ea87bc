package machine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"unicode/utf8"
)

// A Terminal is what `kubectl exec -it` gives a simulated container: the
// kernel's line discipline of a pseudo-terminal, which a real container
// gets from its runtime's pty. kubectl puts the learner's terminal in raw
// mode and sends every key as typed, so this side does what the kernel
// would: echo, erase (Backspace, Ctrl-U), deliver a line on Enter, turn
// Ctrl-C into an interrupt of the foreground command and Ctrl-D on an
// empty line into end-of-file, and write "\r\n" for every "\n" of output.
type Terminal struct {
	out io.Writer // the client's side, raw

	// input is the cooked side, read by the programs: whole lines, and
	// an empty chunk for each Ctrl-D, which is one end-of-file (a program
	// reading after it reads on, as from a real terminal). Closed when
	// the client's keys end. Typing never waits for a reader: beyond
	// inputLines unread lines, keys are dropped, as a full tty buffer
	// drops them.
	input chan []byte

	mu sync.Mutex
	// foreground is called on Ctrl-C: it interrupts the command running
	// in the foreground, if any.
	foreground func()
	// intr is closed by Ctrl-C while a command runs, waking the reads
	// blocked on the terminal (the command's end, as SIGINT would be).
	intr chan struct{}
	// rows and cols are the client's window size, as kubectl reports it
	// (and again on every resize).
	rows, cols uint16
}

// Resize records the client's window size.
func (t *Terminal) Resize(rows, cols uint16) {
	t.mu.Lock()
	t.rows, t.cols = rows, cols
	t.mu.Unlock()
}

// Size is the client's window size; 0, 0 until it reported one.
func (t *Terminal) Size() (rows, cols uint16) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rows, t.cols
}

// Control characters the line discipline acts on (stty's defaults).
const (
	KeyInterrupt = 0x03 // ^C, which the runtime's tests type too
	keyEOF       = 0x04 // ^D
	keyErase     = 0x7f // DEL, what Backspace sends
	keyEraseBS   = 0x08 // ^H
	keyKill      = 0x15 // ^U
	keyWordErase = 0x17 // ^W
)

// NewTerminal is a terminal whose client sees out; Run feeds it keys.
func NewTerminal(out io.Writer) *Terminal {
	return &Terminal{out: out, input: make(chan []byte, inputLines), intr: make(chan struct{})}
}

// inputLines bounds the lines typed ahead of the programs reading them.
const inputLines = 256

// ErrInterrupted is what a read of the terminal returns when Ctrl-C ends
// the command that was reading.
var ErrInterrupted = errors.New("interrupted")

// Stdin is a reader of what is typed: lines, once Enter is pressed. Each
// reader keeps what it read past the caller's buffer.
func (t *Terminal) Stdin() io.Reader { return &termReader{t: t} }

type termReader struct {
	t       *Terminal
	pending []byte
}

func (r *termReader) Read(p []byte) (int, error) { return r.ReadContext(context.Background(), p) }

// ReadContext is Read that gives up when ctx ends: a program that stops
// reading (nc, once its peer has closed) leaves no read behind to take
// the next line typed at the shell.
func (r *termReader) ReadContext(ctx context.Context, p []byte) (int, error) {
	if len(r.pending) == 0 {
		r.t.mu.Lock()
		intr := r.t.intr
		r.t.mu.Unlock()
		select {
		case line, ok := <-r.t.input:
			if !ok || len(line) == 0 {
				return 0, io.EOF
			}
			r.pending = line
		case <-intr:
			return 0, ErrInterrupted
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// deliver queues a chunk of input without waiting.
func (t *Terminal) deliver(chunk []byte) {
	select {
	case t.input <- chunk:
	default:
	}
}

// Stdout is what programs write to: output post-processing (ONLCR).
func (t *Terminal) Stdout() io.Writer { return onlcr{t.out} }

// SetForeground sets what Ctrl-C interrupts (nil: nothing runs).
func (t *Terminal) SetForeground(interrupt func()) {
	t.mu.Lock()
	t.foreground = interrupt
	t.mu.Unlock()
}

// Run reads keys from the client until its input ends, then ends the
// programs' input.
func (t *Terminal) Run(keys io.Reader) {
	defer close(t.input)
	var line []byte
	// esc tracks an escape sequence (an arrow or function key: ESC [
	// parameters, then a final byte), which the shell, having no line
	// editing, ignores whole.
	esc := 0
	buf := make([]byte, 256)
	for {
		n, err := keys.Read(buf)
		for _, b := range buf[:n] {
			switch {
			case esc == 1 && b == '[', esc == 1 && b == 'O':
				esc = 2
				continue
			case esc == 1:
				esc = 0
				continue
			case esc == 2:
				if b >= 0x40 && b <= 0x7e {
					esc = 0
				}
				continue
			case b == 0x1b:
				esc = 1
				continue
			}
			switch b {
			case '\r', '\n':
				_, _ = t.out.Write([]byte("\r\n"))
				t.deliver(append(line, '\n'))
				line = nil
			case KeyInterrupt:
				_, _ = t.out.Write([]byte("^C\r\n"))
				line = nil
				t.mu.Lock()
				interrupt := t.foreground
				if interrupt != nil {
					close(t.intr)
					t.intr = make(chan struct{})
				}
				t.mu.Unlock()
				if interrupt != nil {
					interrupt()
				} else {
					// At the prompt: an empty line, so the shell prompts
					// again.
					t.deliver([]byte("\n"))
				}
			case keyEOF:
				// On an empty line, one end-of-file; mid-line, what was
				// typed, without a newline.
				if len(line) == 0 {
					t.deliver([]byte{})
				} else {
					t.deliver(line)
				}
				line = nil
			case keyErase, keyEraseBS:
				if len(line) > 0 {
					_, size := utf8.DecodeLastRune(line)
					line = line[:len(line)-size]
					_, _ = t.out.Write([]byte("\b \b"))
				}
			case keyKill:
				for range utf8.RuneCount(line) {
					_, _ = t.out.Write([]byte("\b \b"))
				}
				line = line[:0]
			case keyWordErase:
				end := len(bytes.TrimRight(line, " "))
				start := bytes.LastIndexByte(line[:end], ' ') + 1
				for range utf8.RuneCount(line[start:]) {
					_, _ = t.out.Write([]byte("\b \b"))
				}
				line = line[:start]
			default:
				if b < 0x20 && b != '\t' {
					// Other control keys (arrows send ESC sequences):
					// the shell has no line editing, so they are dropped.
					continue
				}
				line = append(line, b)
				_, _ = t.out.Write([]byte{b})
			}
		}
		if err != nil {
			return
		}
	}
}

// onlcr writes "\r\n" for each "\n", as a terminal's output processing
// does, so lines start at the left margin of the learner's raw terminal.
type onlcr struct{ w io.Writer }

func (o onlcr) Write(p []byte) (int, error) {
	if bytes.IndexByte(p, '\n') < 0 {
		return o.w.Write(p)
	}
	if _, err := o.w.Write(bytes.ReplaceAll(p, []byte("\n"), []byte("\r\n"))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// A ContextReader is a stdin that a program may stop reading at any time
// without losing input to its abandoned read (the terminal's).
type ContextReader interface {
	ReadContext(ctx context.Context, p []byte) (int, error)
}

// ReaderUntil reads r until ctx ends: through ReadContext when r has it,
// else plainly (a pipe or an exec's stream, which end on their own).
func ReaderUntil(ctx context.Context, r io.Reader) io.Reader {
	if cr, ok := r.(ContextReader); ok {
		return readerUntil{ctx, cr}
	}
	return r
}

type readerUntil struct {
	ctx context.Context
	r   ContextReader
}

func (u readerUntil) Read(p []byte) (int, error) { return u.r.ReadContext(u.ctx, p) }
