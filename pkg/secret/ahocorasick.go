package secret

// keywordSet finds every occurrence of a set of keywords in a text, ASCII
// case-insensitively, in one pass: an Aho-Corasick automaton compiled to a
// dense DFA over byte classes. Bytes that occur in no keyword share one
// class, so the table stays small (states × classes) and the scan loop is
// one table load per byte.
type keywordSet struct {
	class    [256]uint8
	nclass   int
	delta    []uint32 // state*nclass + class → next state
	out      [][]int  // state → keywords ending here (suffix outputs folded in)
	hasOut   []bool
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
func newKeywordSet(keywords []string) *keywordSet {
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
	k.delta = make([]uint32, n*k.nclass)
	k.out = make([][]int, n)
	k.hasOut = make([]bool, n)
	fail := make([]int, n)
	queue := make([]int, 0, n)
	for c := 0; c < k.nclass; c++ {
		if t, ok := trie[0].next[uint8(c)]; ok {
			k.delta[c] = uint32(t)
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		k.out[s] = append(append([]int{}, trie[s].out...), k.out[fail[s]]...)
		k.hasOut[s] = len(k.out[s]) > 0
		for c := 0; c < k.nclass; c++ {
			if t, ok := trie[s].next[uint8(c)]; ok {
				fail[t] = int(k.delta[fail[s]*k.nclass+c])
				k.delta[s*k.nclass+c] = uint32(t)
				queue = append(queue, t)
			} else {
				k.delta[s*k.nclass+c] = k.delta[fail[s]*k.nclass+c]
			}
		}
	}
	return k
}

// find calls hit with the keyword and the offset just past it for every
// occurrence in data, in order of where they end.
func (k *keywordSet) find(data []byte, hit func(keyword, end int)) {
	delta, class, nclass, hasOut := k.delta, &k.class, uint32(k.nclass), k.hasOut
	var s uint32
	for i, b := range data {
		s = delta[s*nclass+uint32(class[b])]
		if hasOut[s] {
			for _, id := range k.out[s] {
				hit(id, i+1)
			}
		}
	}
}
