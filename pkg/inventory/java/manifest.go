package java

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// parseManifest reads the main section of a JAR manifest
// (https://docs.oracle.com/en/java/javase/21/docs/specs/jar/jar.html):
// "Name: value" headers, a line starting with one space continuing the
// previous value, a blank line ending the section.
func parseManifest(data []byte) (map[string]string, error) {
	attrs := map[string]string{}
	var last string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		switch {
		case line == "":
			if len(attrs) > 0 {
				return attrs, nil // end of the main section
			}
			continue
		case line[0] == ' ':
			if last == "" {
				return nil, fmt.Errorf("line %d: continuation line without a header", n)
			}
			attrs[last] += line[1:]
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("line %d: not a \"Name: value\" header: %q", n, clip(line))
		}
		// The value follows ": "; tolerate a missing space, as java.util.jar does.
		last = name
		attrs[name] = strings.TrimPrefix(value, " ")
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return attrs, nil
}

// parseProperties reads a Java .properties file (the format of
// pom.properties): key=value, key:value or "key value"; # and ! comments;
// a trailing odd backslash continues the line; backslash escapes.
func parseProperties(data []byte) (map[string]string, error) {
	props := map[string]string{}
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		start := i + 1
		line := strings.TrimLeft(lines[i], " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		for continues(line) {
			line = line[:len(line)-1]
			if i+1 >= len(lines) {
				break
			}
			i++
			line += strings.TrimLeft(lines[i], " \t\f")
		}
		key, value, err := splitProperty(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", start, err)
		}
		props[key] = value
	}
	return props, nil
}

// continues reports whether a logical line ends in an odd number of backslashes.
func continues(line string) bool {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

func splitProperty(line string) (key, value string, err error) {
	var k strings.Builder
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		if c == '\\' && i+1 < len(line) {
			i++
			r, n, err := unescape(line[i:])
			if err != nil {
				return "", "", err
			}
			k.WriteString(r)
			i += n - 1
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			break
		}
		k.WriteByte(c)
	}
	rest := strings.TrimLeft(line[i:], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	var v strings.Builder
	for j := 0; j < len(rest); j++ {
		if rest[j] == '\\' && j+1 < len(rest) {
			r, n, err := unescape(rest[j+1:])
			if err != nil {
				return "", "", err
			}
			v.WriteString(r)
			j += n
			continue
		}
		v.WriteByte(rest[j])
	}
	return k.String(), v.String(), nil
}

// unescape decodes the escape after a backslash, returning the text and
// how many bytes it used.
func unescape(s string) (string, int, error) {
	switch s[0] {
	case 't':
		return "\t", 1, nil
	case 'n':
		return "\n", 1, nil
	case 'r':
		return "\r", 1, nil
	case 'f':
		return "\f", 1, nil
	case 'u':
		if len(s) < 5 {
			return "", 0, fmt.Errorf("malformed \\u escape %q", clip(s))
		}
		r, err := strconv.ParseUint(s[1:5], 16, 16)
		if err != nil {
			return "", 0, fmt.Errorf("malformed \\u escape %q", s[:5])
		}
		return string(rune(r)), 5, nil
	}
	return s[:1], 1, nil
}

// clip shortens text quoted in an error.
func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
