package programs

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
)

// utilLs lists the container's files: the image's tree and every volume
// the kubelet mounted, where a ConfigMap's keys are the symlinks into its
// ..data directory that the kubelet made. -l is the long format, -a shows
// dot entries; one name a line, or on a terminal one line of names, as
// ls does when its output is not a terminal and when it is.
func utilLs(p *machine.Process) int {
	var long, all bool
	var args []string
	for _, a := range p.Argv[1:] {
		if len(a) < 2 || a[0] != '-' {
			args = append(args, a)
			continue
		}
		for _, c := range a[1:] {
			switch c {
			case 'l':
				long = true
			case 'a', 'A':
				all = true
			case '1', 'h', 'n':
			default:
				fmt.Fprintf(p.IO.Err, "ls: invalid option -- '%c'\n", c)
				return 2
			}
		}
	}
	if len(args) == 0 {
		args = []string{"."}
	}
	code := 0
	var files []lsEntry
	var dirs []string
	for _, a := range args {
		abs := p.Machine.Abs(p.Cwd(), a)
		st, err := p.Machine.Stat(abs)
		if err != nil {
			if gnu(p) {
				fmt.Fprintf(p.IO.Err, "ls: cannot access '%s': No such file or directory\n", a)
			} else {
				fmt.Fprintf(p.IO.Err, "ls: %s: No such file or directory\n", a)
			}
			code = 2
			continue
		}
		if st.IsDir() {
			dirs = append(dirs, a)
		} else {
			files = append(files, lsEntryOf(p, abs, a, st))
		}
	}
	lsPrint(p, files, long)
	for i, d := range dirs {
		if len(args) > 1 {
			if i > 0 || len(files) > 0 {
				fmt.Fprintln(p.IO.Out)
			}
			fmt.Fprintf(p.IO.Out, "%s:\n", d)
		}
		abs := p.Machine.Abs(p.Cwd(), d)
		ents, err := p.Machine.ReadDir(abs)
		if err != nil {
			fmt.Fprintf(p.IO.Err, "ls: %s: %s\n", d, machine.ErrText(err))
			code = 2
			continue
		}
		var list []lsEntry
		for _, e := range ents {
			if !all && strings.HasPrefix(e.Name(), ".") {
				continue
			}
			full := path.Join(abs, e.Name())
			st, err := p.Machine.Stat(full)
			if host, _ := p.Machine.HostPath(full); host != "" {
				// A volume's symlink is shown as one (lstat).
				if lst, lerr := os.Lstat(host); lerr == nil {
					st, err = lst, nil
				}
			}
			if err != nil {
				continue
			}
			list = append(list, lsEntryOf(p, full, e.Name(), st))
		}
		slices.SortFunc(list, func(a, b lsEntry) int { return strings.Compare(a.name, b.name) })
		lsPrint(p, list, long)
	}
	return code
}

type lsEntry struct {
	name, target string
	info         fs.FileInfo
}

func lsEntryOf(p *machine.Process, full, name string, st fs.FileInfo) lsEntry {
	e := lsEntry{name: name, info: st}
	if st.Mode()&fs.ModeSymlink != 0 {
		if host, _ := p.Machine.HostPath(full); host != "" {
			e.target, _ = os.Readlink(host)
		}
	}
	return e
}

func lsPrint(p *machine.Process, list []lsEntry, long bool) {
	if len(list) == 0 {
		return
	}
	if !long {
		names := make([]string, len(list))
		for i, e := range list {
			names[i] = e.name
		}
		sep := "\n"
		if p.Term != nil {
			sep = "  "
		}
		fmt.Fprintf(p.IO.Out, "%s\n", strings.Join(names, sep))
		return
	}
	when := p.Machine.Now().UTC().Format("Jan _2 15:04")
	for _, e := range list {
		links := 1
		if e.info.IsDir() {
			links = 2
		}
		name := e.name
		if e.target != "" {
			name += " -> " + e.target
		}
		fmt.Fprintf(p.IO.Out, "%s %4d root     root     %9d %s %s\n", modeString(e.info.Mode()), links, e.info.Size(), when, name)
	}
}

// modeString is a mode as ls -l shows it ("lrwxrwxrwx", "drwxrwxrwt"),
// which fs.FileMode.String does not quite ("Lrwxrwxrwx", "dtrwxrwxrwx").
func modeString(m fs.FileMode) string {
	b := []byte("----------")
	switch {
	case m&fs.ModeDir != 0:
		b[0] = 'd'
	case m&fs.ModeSymlink != 0:
		b[0] = 'l'
	case m&fs.ModeNamedPipe != 0:
		b[0] = 'p'
	case m&fs.ModeSocket != 0:
		b[0] = 's'
	case m&fs.ModeCharDevice != 0:
		b[0] = 'c'
	case m&fs.ModeDevice != 0:
		b[0] = 'b'
	}
	for i, c := range "rwxrwxrwx" {
		if m.Perm()&(1<<(8-i)) != 0 {
			b[i+1] = byte(c)
		}
	}
	special := func(i int, set bool, on, off byte) {
		if set {
			if b[i] == 'x' {
				b[i] = on
			} else {
				b[i] = off
			}
		}
	}
	special(3, m&fs.ModeSetuid != 0, 's', 'S')
	special(6, m&fs.ModeSetgid != 0, 's', 'S')
	special(9, m&fs.ModeSticky != 0, 't', 'T')
	return string(b)
}
