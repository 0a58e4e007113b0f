package version

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// mavenItem is one item of Maven's ComparableVersion (apache/maven
// maven-artifact ComparableVersion.java, MNG-7644 and MNG-7714 included).
// Our own: masahiro331/go-mvn-version predates those changes ("2.0.a" <
// "2-1", "1.0.0.RC1" < "1.0.0-RC2").
type mavenItem struct {
	kind  mavenKind
	num   string // numeric kinds: digits, leading zeros stripped ("0" for zero)
	str   string // mavenString: the qualifier, lower case, aliases applied
	comb  *mavenItem
	digit *mavenItem // mavenCombination: string part and number part
	list  []*mavenItem
}

// mavenKind follows ComparableVersion's item types; the numeric kinds are
// ordered by size (a longer number is always bigger).
type mavenKind uint8

const (
	mavenInt  mavenKind = iota // up to 9 digits
	mavenLong                  // up to 18 digits
	mavenBig
	mavenString
	mavenList
	mavenCombination
)

const mavenMaxLength = 256 // Maven's MAX_VERSION_LENGTH

func (it *mavenItem) numeric() bool { return it.kind <= mavenBig }

func (it *mavenItem) isNull() bool {
	switch it.kind {
	case mavenString:
		return it.str == ""
	case mavenList:
		return len(it.list) == 0
	case mavenCombination:
		return false
	}
	return it.num == "0"
}

var mavenQualifiers = [...]string{"alpha", "beta", "milestone", "rc", "snapshot", "", "sp"}

// mavenRelease is comparableQualifier(""): the index of "" in the list.
const mavenRelease = "5"

// mavenQualifier is StringItem.comparableQualifier: known qualifiers by
// index, release aliases as "", unknown ones after all known, lexically.
func mavenQualifier(q string) string {
	switch q {
	case "ga", "final", "release":
		return mavenRelease
	}
	for i, k := range mavenQualifiers {
		if k == q {
			return string(rune('0' + i))
		}
	}
	return "7-" + q
}

func newMavenString(v string, followedByDigit bool) *mavenItem {
	if followedByDigit && len(v) == 1 {
		switch v {
		case "a":
			v = "alpha"
		case "b":
			v = "beta"
		case "m":
			v = "milestone"
		}
	}
	if v == "cr" {
		v = "rc"
	}
	return &mavenItem{kind: mavenString, str: v}
}

func newMavenNumber(digits string) *mavenItem {
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		digits = "0"
	}
	k := mavenBig
	switch {
	case len(digits) <= 9:
		k = mavenInt
	case len(digits) <= 18:
		k = mavenLong
	}
	return &mavenItem{kind: k, num: digits}
}

func newMavenItem(combination, digit bool, buf string) *mavenItem {
	switch {
	case combination:
		buf = strings.ReplaceAll(buf, "-", "")
		i := strings.IndexFunc(buf, func(r rune) bool { return isDigit(byte(r)) && r < utf8.RuneSelf })
		if i < 0 {
			i = 0
		}
		return &mavenItem{kind: mavenCombination, comb: newMavenString(buf[:i], true), digit: newMavenNumber(buf[i:])}
	case digit:
		return newMavenNumber(buf)
	}
	return newMavenString(buf, false)
}

// parseMaven is ComparableVersion.parseVersion.
func parseMaven(s string) (parsed, string) {
	if s == "" {
		return nil, "empty version"
	}
	if len(s) > mavenMaxLength {
		return nil, "longer than 256 characters"
	}
	for _, r := range s {
		if unicode.IsDigit(r) && r >= utf8.RuneSelf {
			return nil, "non-ASCII digit"
		}
	}
	v := []rune(strings.ToLower(s))
	root := &mavenItem{kind: mavenList}
	list := root
	stack := []*mavenItem{root}
	push := func() {
		l := &mavenItem{kind: mavenList}
		list.list = append(list.list, l)
		list = l
		stack = append(stack, l)
	}
	add := func(it *mavenItem) { list.list = append(list.list, it) }
	isDigitR := func(r rune) bool { return '0' <= r && r <= '9' }
	digit, combination := false, false
	start := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '.':
			if i == start {
				add(newMavenNumber("0"))
			} else {
				add(newMavenItem(combination, digit, string(v[start:i])))
			}
			combination = false
			start = i + 1
		case c == '-':
			if i == start {
				add(newMavenNumber("0"))
			} else {
				// X-1 is X1
				if !digit && i != len(v)-1 && isDigitR(v[i+1]) {
					combination = true
					continue
				}
				add(newMavenItem(combination, digit, string(v[start:i])))
			}
			start = i + 1
			if len(list.list) > 0 {
				push()
			}
			combination = false
		case isDigitR(c):
			if !digit && i > start {
				combination = true // X1
				if len(list.list) > 0 {
					push()
				}
			}
			digit = true
		default:
			if digit && i > start {
				add(newMavenItem(combination, true, string(v[start:i])))
				start = i
				push()
				combination = false
			}
			digit = false
		}
	}
	if len(v) > start {
		// 1.0.0.X1 < 1.0.0-X2: .X is treated as -X
		if !digit && len(list.list) > 0 {
			push()
		}
		add(newMavenItem(combination, digit, string(v[start:])))
	}
	for i := len(stack) - 1; i >= 0; i-- {
		stack[i].normalize()
	}
	return root, ""
}

// normalize is ListItem.normalize: null items (0, "", []) go when last or
// before a qualifier.
func (it *mavenItem) normalize() {
	for i := len(it.list) - 1; i >= 0; i-- {
		if !it.list[i].isNull() {
			continue
		}
		remove := i == len(it.list)-1 || it.list[i+1].kind == mavenString
		if next := it.list[i+1:]; !remove && next[0].kind == mavenList && len(next[0].list) > 0 {
			k := next[0].list[0].kind
			remove = k == mavenCombination || k == mavenString
		}
		if remove {
			it.list = append(it.list[:i], it.list[i+1:]...)
		}
	}
	if len(it.list) == 1 && it.list[0].kind == mavenList {
		it.list = it.list[0].list
	}
}

func (it *mavenItem) compare(o parsed) int { return it.cmp(o.(*mavenItem)) }

// cmp is Item.compareTo; o is nil for "nothing there".
func (it *mavenItem) cmp(o *mavenItem) int {
	switch {
	case it.numeric():
		switch {
		case o == nil:
			if it.num == "0" {
				return 0
			}
			return 1
		case o.numeric():
			if it.kind != o.kind {
				return cmpInt(it.kind, o.kind)
			}
			return cmpDigits(it.num, o.num)
		}
		return 1 // 1.1 > 1-sp, 1.1 > 1-1
	case it.kind == mavenString:
		switch {
		case o == nil: // 1-rc < 1, 1-ga == 1, 1-sp > 1
			return strings.Compare(mavenQualifier(it.str), mavenRelease)
		case o.numeric():
			return -1
		case o.kind == mavenString:
			return strings.Compare(mavenQualifier(it.str), mavenQualifier(o.str))
		case o.kind == mavenCombination:
			if c := it.cmp(o.comb); c != 0 {
				return c
			}
			if it.cmp(nil) == 0 {
				return -o.digit.cmp(nil)
			}
			return -1
		}
		return -o.cmp(it)
	case it.kind == mavenCombination:
		switch {
		case o == nil:
			if c := it.comb.cmp(nil); c != 0 {
				return c
			}
			return it.digit.cmp(nil)
		case o.numeric():
			return -1
		case o.kind == mavenString:
			if c := it.comb.cmp(o); c != 0 {
				return c
			}
			if it.comb.cmp(nil) == 0 {
				return it.digit.cmp(nil)
			}
			return 1 // X1 > X
		case o.kind == mavenCombination:
			if c := it.comb.cmp(o.comb); c != 0 {
				return c
			}
			return it.digit.cmp(o.digit)
		}
		return -o.cmp(it)
	}
	// list
	switch {
	case o == nil:
		for _, x := range it.list {
			if c := x.cmp(nil); c != 0 {
				return c
			}
		}
		return 0
	case o.numeric():
		return -1 // 1-1 < 1.0.x
	case o.kind == mavenString || o.kind == mavenCombination:
		var c int
		if len(it.list) == 0 {
			c = -o.cmp(nil)
		} else {
			c = it.list[0].cmp(o)
		}
		for i := 1; c == 0 && i < len(it.list); i++ {
			c = it.list[i].cmp(nil)
		}
		return c
	}
	for i := 0; i < len(it.list) || i < len(o.list); i++ {
		var c int
		switch {
		case i >= len(it.list):
			c = -o.list[i].cmp(nil)
		case i >= len(o.list):
			c = it.list[i].cmp(nil)
		default:
			c = it.list[i].cmp(o.list[i])
		}
		if c != 0 {
			return c
		}
	}
	return 0
}
