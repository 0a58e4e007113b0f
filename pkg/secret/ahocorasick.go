package secret

import "fmt"

// keywordSet finds every occurrence of a set of keywords in a text, ASCII
// case-insensitively, in one pass: an Aho-Corasick automaton compiled to a
// dense DFA over byte classes. Bytes that occur in no keyword share one
// class, so the table stays small (states × classes) and the scan loop is
// one table load per byte.
type keywordSet struct {
	class  [256]uint8
	nclass int
	// delta maps a state's row offset (state × nclass) plus a byte class
	// to the next state's row offset. States where keywords end are
	// numbered last, so that "a keyword ends here" is one comparison with
	// outFrom: the scan loop is a load, an add, a load and a compare.
	delta    []uint16
	outFrom  uint16
	out      [][]int // row offset / nclass → keywords ending there (suffix outputs folded in)
	keywords []string
}

func lower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// newKeywordSet compiles the keywords (matched case-insensitively; empty
// ones are ignored).
func newKeywordSet(keywords []string) (*keywordSet, error) {
	k := &keywordSet{keywords: keywords}
	// Byte classes: 0 for bytes in no keyword, then one per distinct
	// lower-cased byte; upper-case letters share their lower-case class.
	var seen [256]bool
	for _, w := range keywords {
		for i := 0; i < len(w); i++ {
			seen[lower(w[i])] = true
		}
	}
	k.nclass = 1
	for b := 0; b < 256; b++ {
		if seen[b] {
			k.class[b] = uint8(k.nclass)
			k.nclass++
		}
	}
	for b := 'A'; b <= 'Z'; b++ {
		k.class[b] = k.class[b+'a'-'A']
	}
	// Trie.
	type tnode struct {
		next map[uint8]int
		out  []int
	}
	trie := []tnode{{next: map[uint8]int{}}}
	for id, w := range keywords {
		if w == "" {
			continue
		}
		s := 0
		for i := 0; i < len(w); i++ {
			c := k.class[lower(w[i])]
			n, ok := trie[s].next[c]
			if !ok {
				n = len(trie)
				trie = append(trie, tnode{next: map[uint8]int{}})
				trie[s].next[c] = n
			}
			s = n
		}
		trie[s].out = append(trie[s].out, id)
	}
	// Breadth-first: failure links, then the full transition table.
	n := len(trie)
	if n*k.nclass > 1<<16-1 {
		return nil, fmt.Errorf("%d keywords make %d automaton states of %d classes, too many for 16-bit offsets", len(keywords), n, k.nclass)
	}
	next := make([]int, n*k.nclass) // plain state numbers while building
	out := make([][]int, n)
	fail := make([]int, n)
	queue := make([]int, 0, n)
	for c := 0; c < k.nclass; c++ {
		if t, ok := trie[0].next[uint8(c)]; ok {
			next[c] = t
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		out[s] = append(append([]int{}, trie[s].out...), out[fail[s]]...)
		for c := 0; c < k.nclass; c++ {
			if t, ok := trie[s].next[uint8(c)]; ok {
				fail[t] = next[fail[s]*k.nclass+c]
				next[s*k.nclass+c] = t
				queue = append(queue, t)
			} else {
				next[s*k.nclass+c] = next[fail[s]*k.nclass+c]
			}
		}
	}
	// Renumber: the root first, states without output, then those with.
	id := make([]int, n)
	num := 0
	for pass := range 2 {
		for s := range n {
			if (len(out[s]) > 0) == (pass == 1) {
				id[s] = num
				num++
			}
		}
		if pass == 0 {
			k.outFrom = uint16(num * k.nclass)
		}
	}
	k.delta = make([]uint16, n*k.nclass)
	k.out = make([][]int, n)
	for s := range n {
		k.out[id[s]] = out[s]
		for c := 0; c < k.nclass; c++ {
			k.delta[id[s]*k.nclass+c] = uint16(id[next[s*k.nclass+c]] * k.nclass)
		}
	}
	return k, nil
}

// find calls hit with the keyword and the offset just past it for every
// occurrence in data, in order of where they end.
func (k *keywordSet) find(data []byte, hit func(keyword, end int)) {
	delta, class, outFrom, nclass := k.delta, &k.class, k.outFrom, uint16(k.nclass)
	var s uint16
	for i, b := range data {
		s = delta[s+uint16(class[b])]
		if s >= outFrom {
			for _, id := range k.out[s/nclass] {
				hit(id, i+1)
			}
		}
	}
}

// containsKeyword reports whether any keyword of k occurs in data.
func containsKeyword[T ~string | ~[]byte](k *keywordSet, data T) bool {
	delta, class, outFrom := k.delta, &k.class, k.outFrom
	var s uint16
	for i := 0; i < len(data); i++ {
		s = delta[s+uint16(class[data[i]])]
		if s >= outFrom {
			return true
		}
	}
	return false
}
