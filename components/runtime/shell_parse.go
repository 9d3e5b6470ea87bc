package runtime

import (
	"fmt"
	"strings"
)

// This file parses the subset of POSIX sh that the simulated containers
// understand. The grammar follows the shell's own structure (lists of and-or
// chains of pipelines of commands) so that learners' scripts behave the way
// they would under busybox ash or dash, rather than being matched against a
// few known phrases.

type partKind int

const (
	partLit   partKind = iota // literal text
	partParam                 // $NAME, ${NAME...}, $?, $1 ...
	partSubst                 // $(...) or `...`
	partArith                 // $((...))
)

type wordPart struct {
	kind   partKind
	text   string // literal text, parameter name or arithmetic expression
	quoted bool   // inside single or double quotes: no field splitting
	op     string // ${name<op>arg}: ":-", "-", ":=", "=", ":+", "+", ":?", "?", or "#" for ${#name}
	arg    *word
	sub    *list
}

type word struct {
	parts []wordPart
}

// literal returns the word's text when it is made only of unquoted
// literals, which is what reserved words and assignment names must be.
func (w word) literal() (string, bool) {
	var b strings.Builder
	for _, p := range w.parts {
		if p.kind != partLit || p.quoted {
			return "", false
		}
		b.WriteString(p.text)
	}
	return b.String(), true
}

type list struct {
	items []listItem
}

type listItem struct {
	cmd andOr
	bg  bool
}

type andOr struct {
	first pipeline
	rest  []andOrPart
}

type andOrPart struct {
	op   string // "&&" or "||"
	pipe pipeline
}

type pipeline struct {
	negate bool
	cmds   []command
}

type command interface{ redirects() []redirect }

type redirect struct {
	fd     int
	op     string // ">", ">>", "<", ">&", "<&"
	target word
}

type simpleCmd struct {
	assigns []assignment
	args    []word
	redirs  []redirect
	line    int
}

type assignment struct {
	name  string
	value word
}

type loopCmd struct {
	until  bool
	cond   list
	body   list
	redirs []redirect
}

type forCmd struct {
	name   string
	words  []word
	hasIn  bool
	body   list
	redirs []redirect
}

type ifCmd struct {
	conds    []list
	bodies   []list
	elseBody *list
	redirs   []redirect
}

type caseCmd struct {
	subject word
	items   []caseItem
	redirs  []redirect
}

type caseItem struct {
	patterns []word
	body     list
}

type groupCmd struct {
	body     list
	subshell bool
	redirs   []redirect
}

func (c *simpleCmd) redirects() []redirect { return c.redirs }
func (c *loopCmd) redirects() []redirect   { return c.redirs }
func (c *forCmd) redirects() []redirect    { return c.redirs }
func (c *ifCmd) redirects() []redirect     { return c.redirs }
func (c *groupCmd) redirects() []redirect  { return c.redirs }
func (c *caseCmd) redirects() []redirect   { return c.redirs }

type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return "syntax error: " + e.msg }

type parser struct {
	src    string
	pos    int
	inCase int
	depth  int
}

const maxParseDepth = 200

// parseScript parses a whole script. Errors are reported the way ash
// reports them ("syntax error: unexpected ...").
func parseScript(src string) (l *list, err error) {
	p := &parser{src: src}
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(*syntaxError)
			if !ok {
				panic(r)
			}
			l, err = nil, se
		}
	}()
	res := p.parseList(nil, false)
	p.skipSpace(true)
	if p.pos < len(p.src) {
		p.unexpected()
	}
	return &res, nil
}

func (p *parser) fail(format string, args ...any) {
	panic(&syntaxError{msg: fmt.Sprintf(format, args...)})
}

func (p *parser) unexpected() {
	if p.pos >= len(p.src) {
		p.fail("unexpected end of file")
	}
	if op := p.peekOp(); op != "" {
		if op == "\n" {
			op = "newline"
		}
		p.fail("unexpected %q", op)
	}
	save := p.pos
	w := p.readWord()
	p.pos = save
	if s, ok := w.literal(); ok && s != "" {
		p.fail("unexpected %q", s)
	}
	p.fail("unexpected %q", string(p.src[p.pos]))
}

func (p *parser) line() int {
	return strings.Count(p.src[:p.pos], "\n") + 1
}

// skipSpace skips blanks, comments and line continuations, and newlines
// too when newlines is set.
func (p *parser) skipSpace(newlines bool) {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			p.pos++
		case c == '\\' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '\n':
			p.pos += 2
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		case c == '\n' && newlines:
			p.pos++
		default:
			return
		}
	}
}

// peekOp returns the control operator at the current position, if any.
func (p *parser) peekOp() string {
	if p.pos >= len(p.src) {
		return ""
	}
	rest := p.src[p.pos:]
	for _, op := range []string{"&&", "||", ";;", ";", "&", "|", "(", ")", "\n"} {
		if strings.HasPrefix(rest, op) {
			return op
		}
	}
	return ""
}

// peekReserved returns the unquoted literal word at the current position
// without consuming it, so callers can recognise reserved words.
func (p *parser) peekReserved() string {
	save := p.pos
	defer func() { p.pos = save }()
	if p.pos >= len(p.src) || isMeta(p.src[p.pos]) {
		return ""
	}
	w := p.readWord()
	s, _ := w.literal()
	return s
}

func (p *parser) expectReserved(want string) {
	p.skipSpace(true)
	if p.peekReserved() != want {
		if p.pos >= len(p.src) {
			p.fail("unexpected end of file (expecting %q)", want)
		}
		p.unexpected()
	}
	p.readWord()
}

var terminators = map[string]bool{
	"then": true, "do": true, "done": true, "fi": true, "elif": true, "else": true, "}": true, "esac": true,
}

func (p *parser) parseList(terms map[string]bool, inParen bool) list {
	var l list
	for {
		p.skipSpace(true)
		if p.pos >= len(p.src) {
			break
		}
		if inParen && p.src[p.pos] == ')' {
			break
		}
		if w := p.peekReserved(); terms[w] {
			break
		}
		if p.inCase > 0 && p.peekOp() == ";;" {
			break
		}
		if op := p.peekOp(); op == ")" || op == ";" || op == "&" || op == ";;" || op == "&&" || op == "||" || op == "|" {
			p.unexpected()
		}
		if w := p.peekReserved(); terminators[w] {
			p.unexpected()
		}
		item := listItem{cmd: p.parseAndOr()}
		p.skipSpace(false)
		sep := true
		switch p.peekOp() {
		case ";":
			p.pos++
		case "&":
			p.pos++
			item.bg = true
		case "\n":
			p.pos++
		default:
			sep = false
		}
		l.items = append(l.items, item)
		if !sep {
			break
		}
	}
	return l
}

func (p *parser) parseAndOr() andOr {
	ao := andOr{first: p.parsePipeline()}
	for {
		p.skipSpace(false)
		op := p.peekOp()
		if op != "&&" && op != "||" {
			return ao
		}
		p.pos += 2
		p.skipSpace(true)
		ao.rest = append(ao.rest, andOrPart{op: op, pipe: p.parsePipeline()})
	}
}

func (p *parser) parsePipeline() pipeline {
	var pl pipeline
	p.skipSpace(false)
	if p.peekReserved() == "!" {
		p.readWord()
		pl.negate = true
	}
	pl.cmds = append(pl.cmds, p.parseCommand())
	for {
		p.skipSpace(false)
		if p.peekOp() != "|" {
			return pl
		}
		p.pos++
		p.skipSpace(true)
		pl.cmds = append(pl.cmds, p.parseCommand())
	}
}

func (p *parser) parseCommand() command {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxParseDepth {
		p.fail("nested too deeply")
	}
	p.skipSpace(false)
	if p.pos >= len(p.src) {
		p.unexpected()
	}
	if p.src[p.pos] == '(' {
		p.pos++
		body := p.parseList(nil, true)
		p.skipSpace(true)
		if p.pos >= len(p.src) || p.src[p.pos] != ')' {
			p.fail("unexpected end of file (expecting \")\")")
		}
		p.pos++
		return &groupCmd{body: body, subshell: true, redirs: p.parseRedirects()}
	}
	switch p.peekReserved() {
	case "while", "until":
		kw := p.peekReserved()
		p.readWord()
		c := &loopCmd{until: kw == "until"}
		c.cond = p.parseList(map[string]bool{"do": true}, false)
		p.expectReserved("do")
		c.body = p.parseList(map[string]bool{"done": true}, false)
		p.expectReserved("done")
		c.redirs = p.parseRedirects()
		return c
	case "for":
		p.readWord()
		p.skipSpace(false)
		nameWord := p.readWord()
		name, ok := nameWord.literal()
		if !ok || !isName(name) {
			p.fail("bad for loop variable")
		}
		c := &forCmd{name: name}
		p.skipSpace(true)
		if p.peekReserved() == "in" {
			p.readWord()
			c.hasIn = true
			for {
				p.skipSpace(false)
				op := p.peekOp()
				if op == ";" || op == "\n" {
					p.pos++
					break
				}
				if p.pos >= len(p.src) || op != "" {
					p.unexpected()
				}
				c.words = append(c.words, p.readWord())
			}
		} else if p.peekOp() == ";" {
			p.pos++
		}
		p.expectReserved("do")
		c.body = p.parseList(map[string]bool{"done": true}, false)
		p.expectReserved("done")
		c.redirs = p.parseRedirects()
		return c
	case "if":
		p.readWord()
		c := &ifCmd{}
		for {
			c.conds = append(c.conds, p.parseList(map[string]bool{"then": true}, false))
			p.expectReserved("then")
			c.bodies = append(c.bodies, p.parseList(map[string]bool{"elif": true, "else": true, "fi": true}, false))
			p.skipSpace(true)
			switch p.peekReserved() {
			case "elif":
				p.readWord()
				continue
			case "else":
				p.readWord()
				b := p.parseList(map[string]bool{"fi": true}, false)
				c.elseBody = &b
			}
			break
		}
		p.expectReserved("fi")
		c.redirs = p.parseRedirects()
		return c
	case "{":
		p.readWord()
		body := p.parseList(map[string]bool{"}": true}, false)
		p.expectReserved("}")
		return &groupCmd{body: body, redirs: p.parseRedirects()}
	case "case":
		return p.parseCase()
	}
	return p.parseSimple()
}

func (p *parser) parseCase() command {
	p.readWord()
	p.skipSpace(false)
	c := &caseCmd{subject: p.readWord()}
	p.expectReserved("in")
	p.inCase++
	defer func() { p.inCase-- }()
	for {
		p.skipSpace(true)
		if p.peekReserved() == "esac" {
			p.readWord()
			break
		}
		if p.pos >= len(p.src) {
			p.fail("unexpected end of file (expecting \"esac\")")
		}
		if p.peekOp() == "(" {
			p.pos++
		}
		var item caseItem
		for {
			p.skipSpace(false)
			item.patterns = append(item.patterns, p.readWord())
			p.skipSpace(false)
			if p.peekOp() == "|" {
				p.pos++
				continue
			}
			break
		}
		if p.peekOp() != ")" {
			p.unexpected()
		}
		p.pos++
		item.body = p.parseList(map[string]bool{"esac": true}, false)
		c.items = append(c.items, item)
		p.skipSpace(true)
		if p.peekOp() == ";;" {
			p.pos += 2
		}
	}
	c.redirs = p.parseRedirects()
	return c
}

func (p *parser) parseRedirects() []redirect {
	var rs []redirect
	for {
		p.skipSpace(false)
		r, ok := p.tryRedirect()
		if !ok {
			return rs
		}
		rs = append(rs, r)
	}
}

// tryRedirect parses "[n]>word", "[n]>>word", "[n]<word", "[n]>&n".
func (p *parser) tryRedirect() (redirect, bool) {
	i := p.pos
	for i < len(p.src) && p.src[i] >= '0' && p.src[i] <= '9' {
		i++
	}
	if i >= len(p.src) || (p.src[i] != '>' && p.src[i] != '<') {
		return redirect{}, false
	}
	r := redirect{fd: -1}
	if i > p.pos {
		n := 0
		fmt.Sscanf(p.src[p.pos:i], "%d", &n)
		r.fd = n
	}
	rest := p.src[i:]
	switch {
	case strings.HasPrefix(rest, "<<"):
		p.pos = i
		p.fail("here-documents are not supported by the simulated shell")
	case strings.HasPrefix(rest, ">>"):
		r.op = ">>"
	case strings.HasPrefix(rest, ">&"):
		r.op = ">&"
	case strings.HasPrefix(rest, "<&"):
		r.op = "<&"
	case strings.HasPrefix(rest, ">|"):
		r.op = ">"
		i++
	default:
		r.op = rest[:1]
	}
	p.pos = i + len(r.op)
	if r.fd < 0 {
		r.fd = 1
		if r.op[0] == '<' {
			r.fd = 0
		}
	}
	p.skipSpace(false)
	if p.pos >= len(p.src) || isMeta(p.src[p.pos]) {
		p.unexpected()
	}
	r.target = p.readWord()
	return r, true
}

func (p *parser) parseSimple() command {
	c := &simpleCmd{line: p.line()}
	for {
		p.skipSpace(false)
		if p.pos >= len(p.src) {
			break
		}
		if op := p.peekOp(); op != "" {
			if op == "(" {
				p.unexpected()
			}
			break
		}
		if r, ok := p.tryRedirect(); ok {
			c.redirs = append(c.redirs, r)
			continue
		}
		w := p.readWord()
		if len(c.args) == 0 {
			if a, ok := asAssignment(w); ok {
				c.assigns = append(c.assigns, a)
				continue
			}
		}
		c.args = append(c.args, w)
	}
	if len(c.args) == 0 && len(c.assigns) == 0 && len(c.redirs) == 0 {
		p.unexpected()
	}
	return c
}

// asAssignment recognises NAME=value; the name part must be unquoted.
func asAssignment(w word) (assignment, bool) {
	if len(w.parts) == 0 || w.parts[0].kind != partLit || w.parts[0].quoted {
		return assignment{}, false
	}
	first := w.parts[0].text
	eq := strings.IndexByte(first, '=')
	if eq <= 0 || !isName(first[:eq]) {
		return assignment{}, false
	}
	val := word{}
	if rest := first[eq+1:]; rest != "" {
		val.parts = append(val.parts, wordPart{kind: partLit, text: rest})
	}
	val.parts = append(val.parts, w.parts[1:]...)
	return assignment{name: first[:eq], value: val}, true
}

func isMeta(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ';', '&', '|', '(', ')', '<', '>':
		return true
	}
	return false
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}

func (w *word) add(kind partKind, text string, quoted bool) {
	if kind == partLit {
		if n := len(w.parts); n > 0 && w.parts[n-1].kind == partLit && w.parts[n-1].quoted == quoted {
			w.parts[n-1].text += text
			return
		}
	}
	w.parts = append(w.parts, wordPart{kind: kind, text: text, quoted: quoted})
}

// readWord reads one shell word, keeping quoting information for the
// expansion step.
func (p *parser) readWord() word {
	var w word
	start := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if isMeta(c) {
			break
		}
		switch c {
		case '\\':
			if p.pos+1 >= len(p.src) {
				p.pos++
				w.add(partLit, "\\", false)
				continue
			}
			if p.src[p.pos+1] == '\n' {
				p.pos += 2
				continue
			}
			w.add(partLit, p.src[p.pos+1:p.pos+2], true)
			p.pos += 2
		case '\'':
			end := strings.IndexByte(p.src[p.pos+1:], '\'')
			if end < 0 {
				p.fail("unterminated quoted string")
			}
			w.add(partLit, p.src[p.pos+1:p.pos+1+end], true)
			if end == 0 {
				// An empty '' still makes the word exist.
				w.parts = append(w.parts, wordPart{kind: partLit, quoted: true})
			}
			p.pos += end + 2
		case '"':
			p.pos++
			n := len(w.parts)
			p.readDouble(&w)
			if len(w.parts) == n {
				w.parts = append(w.parts, wordPart{kind: partLit, quoted: true})
			}
		case '$':
			p.readDollar(&w, false)
		case '`':
			p.readBackquote(&w, false)
		default:
			w.add(partLit, string(c), false)
			p.pos++
		}
	}
	if p.pos == start {
		p.unexpected()
	}
	return w
}

func (p *parser) readDouble(w *word) {
	for {
		if p.pos >= len(p.src) {
			p.fail("unterminated quoted string")
		}
		c := p.src[p.pos]
		switch c {
		case '"':
			p.pos++
			return
		case '\\':
			if p.pos+1 < len(p.src) {
				n := p.src[p.pos+1]
				switch n {
				case '$', '`', '"', '\\':
					w.add(partLit, string(n), true)
					p.pos += 2
					continue
				case '\n':
					p.pos += 2
					continue
				}
			}
			w.add(partLit, "\\", true)
			p.pos++
		case '$':
			p.readDollar(w, true)
		case '`':
			p.readBackquote(w, true)
		default:
			w.add(partLit, string(c), true)
			p.pos++
		}
	}
}

func (p *parser) readBackquote(w *word, quoted bool) {
	p.pos++
	var b strings.Builder
	for {
		if p.pos >= len(p.src) {
			p.fail("unterminated quoted string")
		}
		c := p.src[p.pos]
		if c == '`' {
			p.pos++
			break
		}
		if c == '\\' && p.pos+1 < len(p.src) && strings.IndexByte("$`\\", p.src[p.pos+1]) >= 0 {
			b.WriteByte(p.src[p.pos+1])
			p.pos += 2
			continue
		}
		b.WriteByte(c)
		p.pos++
	}
	sub, err := parseScript(b.String())
	if err != nil {
		panic(err)
	}
	w.parts = append(w.parts, wordPart{kind: partSubst, sub: sub, quoted: quoted})
}

func (p *parser) readDollar(w *word, quoted bool) {
	rest := p.src[p.pos:]
	switch {
	case strings.HasPrefix(rest, "$(("):
		depth := 0
		i := 3
		for ; i < len(rest); i++ {
			switch rest[i] {
			case '(':
				depth++
			case ')':
				if depth == 0 {
					if i+1 < len(rest) && rest[i+1] == ')' {
						w.parts = append(w.parts, wordPart{kind: partArith, text: rest[3:i], quoted: quoted})
						p.pos += i + 2
						return
					}
					p.fail("unterminated arithmetic expression")
				}
				depth--
			}
		}
		p.fail("unterminated arithmetic expression")
	case strings.HasPrefix(rest, "$("):
		p.pos += 2
		sub := p.parseList(nil, true)
		p.skipSpace(true)
		if p.pos >= len(p.src) || p.src[p.pos] != ')' {
			p.fail("unterminated command substitution")
		}
		p.pos++
		w.parts = append(w.parts, wordPart{kind: partSubst, sub: &sub, quoted: quoted})
	case strings.HasPrefix(rest, "${"):
		depth := 0
		end := -1
		for i := 2; i < len(rest) && end < 0; i++ {
			switch rest[i] {
			case '{':
				depth++
			case '}':
				if depth == 0 {
					end = i
				}
				depth--
			}
		}
		if end < 0 {
			p.fail("missing '}'")
		}
		p.pos += end + 1
		w.parts = append(w.parts, parseBrace(rest[2:end], quoted))
	default:
		if len(rest) < 2 {
			w.add(partLit, "$", quoted)
			p.pos++
			return
		}
		c := rest[1]
		if strings.IndexByte("?$#@*!-0123456789", c) >= 0 {
			w.parts = append(w.parts, wordPart{kind: partParam, text: string(c), quoted: quoted})
			p.pos += 2
			return
		}
		i := 1
		for i < len(rest) && isName(rest[1:i+1]) {
			i++
		}
		if i == 1 {
			w.add(partLit, "$", quoted)
			p.pos++
			return
		}
		w.parts = append(w.parts, wordPart{kind: partParam, text: rest[1:i], quoted: quoted})
		p.pos += i
	}
}

func parseBrace(body string, quoted bool) wordPart {
	part := wordPart{kind: partParam, quoted: quoted}
	if strings.HasPrefix(body, "#") && len(body) > 1 {
		part.op = "#"
		part.text = body[1:]
		return part
	}
	i := 0
	if i < len(body) && strings.IndexByte("?$#@*!-0123456789", body[0]) >= 0 {
		i = 1
	} else {
		for i < len(body) && isName(body[:i+1]) {
			i++
		}
	}
	if i == 0 {
		panic(&syntaxError{msg: fmt.Sprintf("bad substitution: ${%s}", body)})
	}
	part.text = body[:i]
	rest := body[i:]
	if rest == "" {
		return part
	}
	for _, op := range []string{":-", ":=", ":+", ":?", "-", "=", "+", "?"} {
		if strings.HasPrefix(rest, op) {
			part.op = op
			ap := &parser{src: rest[len(op):]}
			arg := ap.readWordAll(quoted)
			part.arg = &arg
			return part
		}
	}
	panic(&syntaxError{msg: fmt.Sprintf("bad substitution: ${%s}", body)})
}

// readWordAll reads the whole remaining input as one word, blanks
// included, as the argument of ${name:-word} is read.
func (p *parser) readWordAll(quoted bool) word {
	var w word
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch c {
		case '\'':
			end := strings.IndexByte(p.src[p.pos+1:], '\'')
			if end < 0 {
				p.fail("unterminated quoted string")
			}
			w.add(partLit, p.src[p.pos+1:p.pos+1+end], true)
			p.pos += end + 2
		case '"':
			p.pos++
			p.readDouble(&w)
		case '$':
			p.readDollar(&w, quoted)
		case '\\':
			if p.pos+1 < len(p.src) {
				w.add(partLit, p.src[p.pos+1:p.pos+2], true)
				p.pos += 2
			} else {
				w.add(partLit, "\\", quoted)
				p.pos++
			}
		default:
			w.add(partLit, string(c), quoted)
			p.pos++
		}
	}
	return w
}
