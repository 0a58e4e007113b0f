package osv

import (
	"bytes"
	"fmt"
	"io"
)

// Explain writes, for `mamori vuln explain`, how v was evaluated for q:
// the verdict, then each affected entry that applies with its
// versions[] size, its ranges and what each range decided.
func Explain(w io.Writer, v *Vulnerability, q Query) error {
	var b bytes.Buffer
	explain(&b, v, q)
	_, err := w.Write(b.Bytes())
	return err
}

func explain(w *bytes.Buffer, v *Vulnerability, q Query) {
	d, err := Evaluate(v, q)
	verdict := "NOT AFFECTED"
	if d.Affected {
		verdict = "AFFECTED"
	}
	fmt.Fprintf(w, "%s %s/%s %s: %s\n", v.ID, q.Ecosystem, q.Name, q.Version, verdict)
	fmt.Fprintf(w, "  %s\n", d.Reason)
	if !v.Withdrawn.IsZero() {
		return
	}
	for _, i := range applying(v, q) {
		a := v.Affected[i]
		fmt.Fprintf(w, "  affected[%d] %s/%s: %d listed versions\n", i, a.Package.Ecosystem, a.Package.Name, len(a.Versions))
		for j, r := range a.Ranges {
			fmt.Fprintf(w, "    ranges[%d] %s [%s]: ", j, r.Type, describeEvents(r.Events))
			res, rerr := evalRange(q, r)
			switch {
			case rerr != nil:
				fmt.Fprintf(w, "cannot evaluate: %v\n", rerr)
			case !res.applies:
				fmt.Fprintf(w, "does not apply to package versions\n")
			case res.affected:
				fmt.Fprintf(w, "affected (%s)\n", res.interval)
			default:
				fmt.Fprintf(w, "not affected\n")
			}
		}
	}
	if fixes := FixedVersions(v, q); len(fixes) > 0 {
		fmt.Fprintf(w, "  fixed in: %v\n", fixes)
	}
	if err != nil {
		fmt.Fprintf(w, "  errors: %v\n", err)
	}
}
