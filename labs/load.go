package labs

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/yuin/goldmark"
	"go.yaml.in/yaml/v3"
)

// content holds the built-in labs. The pattern names the folder, not its
// labs, so the package builds while the folder holds only its README.
//
//go:embed content
var content embed.FS

// BuiltinName is how messages name the built-in labs' folder.
const BuiltinName = "labs/content"

// Builtin returns the built-in labs: a file system whose root holds one
// folder per lab.
func Builtin() fs.FS {
	sub, err := fs.Sub(content, "content")
	if err != nil {
		// fs.Sub fails only for an invalid path, and "content" is valid.
		panic(err)
	}
	return sub
}

// LoadBuiltin loads the built-in labs.
func LoadBuiltin() (*Catalog, []LoadError) { return Load(Builtin(), BuiltinName) }

// LoadDir loads the labs in a folder on disk (wheelhouse up --labs-dir);
// messages name files under dir as given.
func LoadDir(dir string) (*Catalog, []LoadError) {
	info, err := os.Stat(dir)
	if err == nil && !info.IsDir() {
		err = errors.New("not a folder")
	}
	if err != nil {
		return &Catalog{}, []LoadError{{File: dir, Message: fmt.Sprintf("reading the labs folder: %v", err)}}
	}
	return Load(os.DirFS(dir), dir)
}

// Load reads every lab in fsys, whose root holds one NN-slug folder per
// lab; name is how messages show that root ("labs/content", or the folder
// the user gave). A lab with any error is left out of the catalog and its
// errors returned; the others load. Files at the root (a README) are
// ignored, as are folders starting with "." or "_".
func Load(fsys fs.FS, name string) (*Catalog, []LoadError) {
	l := &loader{fsys: fsys, root: strings.TrimSuffix(name, "/"), md: newMarkdown()}
	cat := &Catalog{}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return cat, []LoadError{{File: name, Message: fmt.Sprintf("reading the labs folder: %v", err)}}
	}
	var errs []LoadError
	ids := map[string]string{} // lab id → the folder that has it
	for _, e := range entries {
		dir := e.Name()
		if !e.IsDir() || strings.HasPrefix(dir, ".") || strings.HasPrefix(dir, "_") {
			continue
		}
		m := labDirName.FindStringSubmatch(dir)
		if m == nil {
			errs = append(errs, LoadError{File: l.show(dir), Message: fmt.Sprintf(
				"folder name %q is not NN-slug (a number, a dash, then lower-case letters, digits and dashes, e.g. 02-kubectl-run)", dir)})
			continue
		}
		id := m[1]
		if other, dup := ids[id]; dup {
			errs = append(errs, LoadError{File: l.show(dir), Message: fmt.Sprintf(
				"lab id %q is already used by %s (a lab's id is its folder name without the number)", id, other)})
			continue
		}
		ids[id] = dir
		lab, labErrs := l.lab(dir, id, &cat.Warnings)
		if len(labErrs) > 0 {
			errs = append(errs, labErrs...)
			continue
		}
		cat.Labs = append(cat.Labs, lab)
	}
	return cat, errs
}

var (
	labDirName = regexp.MustCompile(`^[0-9]+-([a-z0-9]+(?:-[a-z0-9]+)*)$`)
	stepStem   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
)

// loader holds what loading every lab shares.
type loader struct {
	fsys fs.FS
	root string
	md   goldmark.Markdown
}

// show is how messages name a file given by its path in fsys.
func (l *loader) show(p string) string {
	if l.root == "" {
		return p
	}
	return l.root + "/" + p
}

// read returns a file's contents, or ok=false if it does not exist.
func (l *loader) read(p string) ([]byte, bool, error) {
	data, err := fs.ReadFile(l.fsys, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", l.show(p), err)
	}
	return data, true, nil
}

func (l *loader) decoder(p string, errs, warns *[]LoadError) *decoder {
	return &decoder{file: l.show(p), errs: errs, warns: warns}
}

// lab loads one lab folder.
func (l *loader) lab(dir, id string, warns *[]LoadError) (*Lab, []LoadError) {
	var errs []LoadError
	lab := &Lab{ID: id, Dir: dir}
	labFile := path.Join(dir, "lab.yaml")
	d := l.decoder(labFile, &errs, warns)
	data, ok, err := l.read(labFile)
	if err != nil {
		d.errorf(0, "%v", err)
		return nil, errs
	}
	if !ok {
		d.errorf(0, "missing: every lab folder needs a lab.yaml with its title and steps")
		return nil, errs
	}
	root := d.parse(data)
	if root == nil {
		return nil, errs
	}
	m := d.mapping(root, "lab.yaml", []string{"title", "summary", "steps", "topology"}, nil)
	if m == nil {
		return nil, errs
	}
	if e, has := m["title"]; has {
		lab.Title, _ = d.text(e, "title")
	} else {
		d.errorf(root.Line, "title is missing")
	}
	if e, has := m["summary"]; has {
		lab.Summary, _ = d.text(e, "summary")
	}
	if e, has := m["topology"]; has {
		if t, ok := d.str(e, "topology"); ok {
			if !slices.Contains(Topologies, t) {
				d.errorf(e.key.Line, "topology %q is not one of %s", t, strings.Join(Topologies, ", "))
			} else {
				lab.Topology = t
			}
		}
	}
	var stems []*yaml.Node
	if e, has := m["steps"]; has {
		var ok bool
		stems, ok = d.seq(e, "steps")
		if ok && len(stems) == 0 {
			d.errorf(e.key.Line, "steps is empty: a lab needs at least one step")
		}
	} else {
		d.errorf(root.Line, "steps is missing (the step file stems in order, e.g. steps: [01-run, 02-schedule])")
	}

	intro, err := l.markdownPair(dir, "intro", false, d)
	if err != nil {
		d.errorf(0, "%v", err)
	}
	lab.IntroHTML = intro

	listed := map[string]int{} // stem → its line in lab.yaml
	for _, n := range stems {
		stem, ok := d.str(entry{n, n}, "a step")
		if !ok {
			continue
		}
		if !stepStem.MatchString(stem) {
			d.errorf(n.Line, "step %q is not a file stem (letters, digits, - and _, e.g. 01-run)", stem)
			continue
		}
		if first, dup := listed[stem]; dup {
			d.errorf(n.Line, "step %s is listed twice (first at line %d)", stem, first)
			continue
		}
		listed[stem] = n.Line
		step, err := l.step(dir, stem, n.Line, d, &errs, warns)
		if err != nil {
			d.errorf(n.Line, "step %s: %v", stem, err)
			continue
		}
		if step != nil {
			lab.Steps = append(lab.Steps, step)
		}
	}
	l.warnUnlisted(dir, listed, warns)

	solFile := path.Join(dir, "solution.sh")
	if data, ok, err := l.read(solFile); err != nil {
		d.errorf(0, "%v", err)
	} else if ok {
		lab.Solution = l.solution(solFile, string(data), listed, &errs, warns)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return lab, nil
}

// step loads STEM.yaml and STEM.en.md / STEM.zh.md. Problems inside the
// step's files are recorded in errs; the returned error is for the step as
// lab.yaml lists it (a missing file).
func (l *loader) step(dir, stem string, line int, labDecoder *decoder, errs, warns *[]LoadError) (*Step, error) {
	file := path.Join(dir, stem+".yaml")
	data, ok, err := l.read(file)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s.yaml is missing", stem)
	}
	html, err := l.markdownPair(dir, stem, true, labDecoder)
	if err != nil {
		return nil, err
	}
	before := len(*errs)
	d := l.decoder(file, errs, warns)
	root := d.parse(data)
	if root == nil {
		return nil, nil
	}
	m := d.mapping(root, "the step", []string{"title", "goal", "commands", "hints", "watch", "checks"}, nil)
	if m == nil {
		return nil, nil
	}
	step := &Step{ID: stem, HTML: html, Commands: []string{}, Hints: []Text{}, Watch: []string{}}
	for _, key := range []string{"title", "goal"} {
		e, has := m[key]
		if !has {
			d.errorf(root.Line, "%s is missing", key)
			continue
		}
		t, _ := d.text(e, key)
		if key == "title" {
			step.Title = t
		} else {
			step.Goal = t
		}
	}
	if e, has := m["commands"]; has {
		step.Commands, _ = d.strings(e, "commands")
	}
	if e, has := m["watch"]; has {
		step.Watch, _ = d.strings(e, "watch")
	}
	if e, has := m["hints"]; has {
		items, _ := d.seq(e, "hints")
		for _, it := range items {
			t, _ := d.text(entry{it, it}, "a hint")
			step.Hints = append(step.Hints, t)
		}
	}
	if e, has := m["checks"]; has {
		items, ok := d.seq(e, "checks")
		if ok && len(items) == 0 {
			d.errorf(e.key.Line, "checks is empty: a step needs at least one check, or it would be done before the learner starts")
		}
		for _, it := range items {
			if c, ok := d.check(it); ok {
				step.Checks = append(step.Checks, c)
			}
		}
	} else {
		d.errorf(root.Line, "checks is missing: a step needs at least one check (resource, trace or order)")
	}
	if len(*errs) > before {
		return nil, nil
	}
	return step, nil
}

// markdownPair renders STEM.en.md and STEM.zh.md. A missing Chinese file
// is a warning (English is shown); a missing English one is an error if
// required.
func (l *loader) markdownPair(dir, stem string, required bool, d *decoder) (Text, error) {
	var t Text
	for _, lang := range []string{EN, ZH} {
		file := path.Join(dir, stem+"."+lang+".md")
		data, ok, err := l.read(file)
		if err != nil {
			return Text{}, err
		}
		if !ok {
			switch {
			case lang == EN && required:
				return Text{}, fmt.Errorf("%s is missing", path.Base(file))
			case lang == ZH && (t.EN != "" || required):
				*d.warns = append(*d.warns, LoadError{File: l.show(file), Message: "missing: Chinese readers see the English text"})
			}
			continue
		}
		html, err := renderMarkdown(l.md, data)
		if err != nil {
			return Text{}, fmt.Errorf("rendering %s: %w", l.show(file), err)
		}
		if lang == EN {
			t.EN = html
		} else {
			t.ZH = html
		}
	}
	return t, nil
}

// warnUnlisted warns about step files lab.yaml does not list: usually a
// step the author forgot to add.
func (l *loader) warnUnlisted(dir string, listed map[string]int, warns *[]LoadError) {
	entries, err := fs.ReadDir(l.fsys, dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		stem, isYAML := strings.CutSuffix(e.Name(), ".yaml")
		if e.IsDir() || !isYAML || stem == "lab" {
			continue
		}
		if _, ok := listed[stem]; !ok {
			*warns = append(*warns, LoadError{File: l.show(path.Join(dir, e.Name())),
				Message: "not listed in lab.yaml's steps, so the lab does not show it"})
		}
	}
}

// solution splits solution.sh and checks that its sections name the lab's
// steps.
func (l *loader) solution(file, script string, steps map[string]int, errs, warns *[]LoadError) []SolutionSection {
	sections, err := SplitSolution(script)
	if err != nil {
		var se *SolutionError
		line := 0
		msg := err.Error()
		if errors.As(err, &se) {
			line, msg = se.Line, se.Message
		}
		*errs = append(*errs, LoadError{File: l.show(file), Line: line, Message: msg})
		return nil
	}
	var names []string
	for stem := range steps {
		names = append(names, stem)
	}
	sort.Strings(names)
	solved := map[string]bool{}
	for _, s := range sections {
		solved[s.Step] = true
		if _, ok := steps[s.Step]; !ok {
			*errs = append(*errs, LoadError{File: l.show(file), Line: s.Line, Message: fmt.Sprintf(
				"section for unknown step %q (the lab's steps are %s)", s.Step, strings.Join(names, ", "))})
		}
	}
	for _, stem := range names {
		if !solved[stem] {
			*warns = append(*warns, LoadError{File: l.show(file), Message: fmt.Sprintf(
				"no section for step %s, so the lab's test cannot pass it", stem)})
		}
	}
	return sections
}
