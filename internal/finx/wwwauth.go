/*
Copyright 2026 The finx-operator authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package finx

import "strings"

// challenge is one RFC 7235 challenge from a WWW-Authenticate header.
type challenge struct {
	Scheme  string            // lower case
	Params  map[string]string // keys lower case
	Token68 string
}

// parseWWWAuthenticate parses a (comma-joined) WWW-Authenticate value such as
//
//	Basic realm="finX", error="invalid_client", Bearer realm="x"
//
// It is lenient: malformed parts are skipped, never fatal.
func parseWWWAuthenticate(h string) []challenge {
	var out []challenge
	p := &headerParser{s: h}
	for {
		p.skip(", \t")
		if p.done() {
			return out
		}
		scheme := p.token()
		if scheme == "" {
			p.i++ // not a token start: skip the byte
			continue
		}
		c := challenge{Scheme: strings.ToLower(scheme), Params: map[string]string{}}
		p.skip(" \t")
		// Either token68, a list of auth-params, or nothing.
		if t68, ok := p.token68(); ok {
			c.Token68 = t68
		} else {
			for {
				save := p.i
				p.skip(", \t")
				name := p.token()
				p.skip(" \t")
				if name == "" || !p.eat('=') {
					p.i = save // the next challenge (or junk) starts here
					break
				}
				p.skip(" \t")
				val := p.value()
				key := strings.ToLower(name)
				if _, dup := c.Params[key]; !dup {
					c.Params[key] = val
				}
			}
		}
		out = append(out, c)
	}
}

// authError returns the first error="…" parameter of any challenge.
func authError(cs []challenge) string {
	for _, c := range cs {
		if e := c.Params["error"]; e != "" {
			return e
		}
	}
	return ""
}

type headerParser struct {
	s string
	i int
}

func (p *headerParser) done() bool { return p.i >= len(p.s) }

func (p *headerParser) skip(chars string) {
	for p.i < len(p.s) && strings.IndexByte(chars, p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *headerParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *headerParser) token() string {
	start := p.i
	for p.i < len(p.s) && isTChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// token68 matches only when a token68 value (e.g. "Negotiate abc==") ends the
// challenge. An auth-param such as realm="x" or error=bad fails that test,
// because its '=' is followed by a value rather than a comma or the end.
func (p *headerParser) token68() (string, bool) {
	start, j := p.i, p.i
	for j < len(p.s) && (isAlnum(p.s[j]) || strings.IndexByte("-._~+/", p.s[j]) >= 0) {
		j++
	}
	if j == start {
		return "", false
	}
	for j < len(p.s) && p.s[j] == '=' {
		j++
	}
	k := j
	for k < len(p.s) && (p.s[k] == ' ' || p.s[k] == '\t') {
		k++
	}
	if k < len(p.s) && p.s[k] != ',' {
		return "", false
	}
	p.i = j
	return p.s[start:j], true
}

// value reads a token or a quoted-string (with backslash escapes).
func (p *headerParser) value() string {
	if !p.eat('"') {
		return p.token()
	}
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case '\\':
			if p.i < len(p.s) {
				b.WriteByte(p.s[p.i])
				p.i++
			}
		case '"':
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String() // unterminated: take what there is
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isTChar(c byte) bool { return isAlnum(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 }
