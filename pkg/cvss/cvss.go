// Package cvss scores CVSS vectors (v2.0, v3.0, v3.1 and v4.0) as
// vulnerability records carry them, and rates the score on the
// specification's qualitative scale.
//
// The arithmetic is github.com/pandatix/go-cvss, whose v4.0 scores follow
// FIRST's calculator (the macro-vector lookup table and the severity
// distances of the specification).
package cvss

import (
	"errors"
	"fmt"
	"strings"

	gocvss20 "github.com/pandatix/go-cvss/20"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"
)

// CVSS versions.
const (
	V2  = "2.0"
	V30 = "3.0"
	V31 = "3.1"
	V40 = "4.0"
)

// Qualitative ratings. CVSS v2 has no None or Critical: its scale (as NVD
// publishes it) is Low 0.0–3.9, Medium 4.0–6.9, High 7.0–10.0.
const (
	None     = "None"
	Low      = "Low"
	Medium   = "Medium"
	High     = "High"
	Critical = "Critical"
)

// ErrMalformed is wrapped by every error about a vector that cannot be
// scored.
var ErrMalformed = errors.New("malformed CVSS vector")

// Result is a scored vector.
type Result struct {
	Version string
	// Score is the base score for v2 and v3. For v4.0 it is the score of
	// the metrics the vector gives (CVSS-B, or CVSS-BT/BE/BTE when threat
	// or environmental metrics are set), as v4.0 defines one score per
	// vector.
	Score  float64
	Rating string
}

// Score parses a vector and scores it. v3 and v4 vectors start with their
// "CVSS:3.x/" or "CVSS:4.0/" prefix; v2 vectors have none ("AV:N/AC:L/Au:N/C:P/I:P/A:P"),
// though a "CVSS:2.0/" prefix and enclosing parentheses, which some
// sources add, are accepted.
func Score(vector string) (Result, error) {
	v := strings.TrimSpace(vector)
	switch {
	case strings.HasPrefix(v, "CVSS:4.0/"):
		c, err := gocvss40.ParseVector(v)
		if err != nil {
			return Result{}, malformed(vector, err)
		}
		s := c.Score()
		return Result{Version: V40, Score: s, Rating: rating(s)}, nil
	case strings.HasPrefix(v, "CVSS:3.1/"):
		c, err := gocvss31.ParseVector(v)
		if err != nil {
			return Result{}, malformed(vector, err)
		}
		s := c.BaseScore()
		return Result{Version: V31, Score: s, Rating: rating(s)}, nil
	case strings.HasPrefix(v, "CVSS:3.0/"):
		c, err := gocvss30.ParseVector(v)
		if err != nil {
			return Result{}, malformed(vector, err)
		}
		s := c.BaseScore()
		return Result{Version: V30, Score: s, Rating: rating(s)}, nil
	case strings.HasPrefix(v, "CVSS:") && !strings.HasPrefix(v, "CVSS:2.0/"):
		return Result{}, fmt.Errorf("%w %q: unknown version prefix", ErrMalformed, vector)
	}
	v = strings.TrimPrefix(v, "CVSS:2.0/")
	if strings.HasPrefix(v, "(") && strings.HasSuffix(v, ")") {
		v = v[1 : len(v)-1]
	}
	if !strings.HasPrefix(v, "AV:") {
		return Result{}, fmt.Errorf("%w %q: no CVSS:3.x/ or CVSS:4.0/ prefix and not a v2 vector", ErrMalformed, vector)
	}
	c, err := gocvss20.ParseVector(v)
	if err != nil {
		return Result{}, malformed(vector, err)
	}
	s := c.BaseScore()
	return Result{Version: V2, Score: s, Rating: ratingV2(s)}, nil
}

func malformed(vector string, err error) error {
	return fmt.Errorf("%w %q: %v", ErrMalformed, vector, err)
}

// rating is the v3.x and v4.0 qualitative severity rating scale.
func rating(s float64) string {
	switch {
	case s >= 9.0:
		return Critical
	case s >= 7.0:
		return High
	case s >= 4.0:
		return Medium
	case s >= 0.1:
		return Low
	}
	return None
}

func ratingV2(s float64) string {
	switch {
	case s >= 7.0:
		return High
	case s >= 4.0:
		return Medium
	}
	return Low
}
