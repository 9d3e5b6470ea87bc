package machine

import (
	"bytes"
	"io"
	"testing"
)

// The line discipline never panics and never delivers a key it acts on:
// whatever is typed, programs read only text.
func FuzzTerminalKeys(f *testing.F) {
	for _, seed := range []string{"echo hi\r", "ech\x7fo\r", "abc\x15def\r", "one two\x17\r", "\x1b[Aup\r", "\x1bOP\r", "\x03\r", "x\x04", "\x04", "é\x7f\r", "\b\b\r"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, keys []byte) {
		var screen bytes.Buffer
		term := NewTerminal(&screen)
		term.SetForeground(func() {})
		read := make(chan []byte)
		go func() {
			data, _ := io.ReadAll(term.Stdin())
			read <- data
		}()
		term.Run(bytes.NewReader(keys))
		lines := <-read
		for _, b := range []byte{KeyInterrupt, keyEOF, keyErase, keyEraseBS, keyKill, keyWordErase, 0x1b} {
			if bytes.IndexByte(lines, b) >= 0 {
				t.Fatalf("the line discipline delivered control byte %#x in %q (keys %q)", b, lines, keys)
			}
		}
	})
}
