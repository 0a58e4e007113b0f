package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/pkg/vulndb"
)

// newDB is `mamori db`: build, refresh and describe the local
// vulnerability database.
func newDB(stdio IO) *cobra.Command {
	getenv := stdio.Environment
	if getenv == nil {
		getenv = os.Getenv
	}
	var dbPath string
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Manage the local vulnerability database (OSV records)",
		Long: "The vulnerability database holds OSV records for image, file system and SBOM scans.\n" +
			"It lives in $MAMORI_DB, else $XDG_CACHE_HOME/mamori/osv.db, else ~/.cache/mamori/osv.db.\n" +
			"Only `db update` uses the network.",
	}
	cmd.PersistentFlags().StringVar(&dbPath, "db", vulndb.DefaultPath(getenv), "vulnerability database file")
	path := func() (string, error) {
		if dbPath == "" {
			return "", errors.New("no database path: set --db, MAMORI_DB or HOME")
		}
		return dbPath, nil
	}

	var skipInvalid bool
	imp := &cobra.Command{
		Use:   "import PATH...",
		Short: "Import OSV JSON files, directories of them and all.zip archives",
		Long: "Import reads OSV records from JSON files, directories (searched for *.json) and zip\n" +
			"archives such as OSV.dev's <Ecosystem>/all.zip. Stored records stay; a record whose ID\n" +
			"is stored replaces it only if its modified time is newer. A bad record fails the\n" +
			"import, listing the bad records, unless --skip-invalid is given.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path()
			if err != nil {
				return err
			}
			start := time.Now()
			st, err := vulndb.Import(cmd.Context(), p, args, vulndb.ImportOptions{SkipInvalid: skipInvalid, Progress: stdio.Err})
			if err != nil {
				return err
			}
			printStats(stdio, p, st, time.Since(start))
			return nil
		},
	}
	imp.Flags().BoolVar(&skipInvalid, "skip-invalid", false, "skip bad records (listed on standard error) instead of failing")

	var uo vulndb.UpdateOptions
	upd := &cobra.Command{
		Use:   "update",
		Short: "Download OSV all.zip archives and import what changed",
		Long: "Update downloads <source>/<Ecosystem>/all.zip for each --ecosystem (default: the archives\n" +
			"already in the database), asking the server for changes only, and imports those.\n" +
			"The ecosystems OSV.dev publishes are listed at <source>/ecosystems.txt.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := path()
			if err != nil {
				return err
			}
			start := time.Now()
			uo.Progress = stdio.Err
			st, err := vulndb.Update(cmd.Context(), p, uo)
			if err != nil {
				return err
			}
			if len(st.Downloaded) == 0 {
				fmt.Fprintf(stdio.Out, "%s is up to date (%s not modified)\n", p, strings.Join(st.NotModified, ", "))
				return nil
			}
			printStats(stdio, p, st, time.Since(start))
			return nil
		},
	}
	upd.Flags().StringVar(&uo.BaseURL, "source", vulndb.DefaultBaseURL, "base URL of the archives (a mirror of OSV.dev's bucket)")
	upd.Flags().StringSliceVar(&uo.Ecosystems, "ecosystem", nil, "ecosystem to download, as OSV names it (Debian, Alpine, PyPI, ...); repeatable")
	upd.Flags().BoolVar(&uo.SkipInvalid, "skip-invalid", false, "skip bad records instead of failing")

	var format string
	status := &cobra.Command{
		Use:   "status",
		Short: "Describe the vulnerability database",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := path()
			if err != nil {
				return err
			}
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: want table or json", format)
			}
			fi, err := os.Stat(p)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			db, err := vulndb.Open(p)
			if err != nil {
				return err
			}
			m := db.Meta()
			db.Close()
			if format == "json" {
				enc := json.NewEncoder(stdio.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Path string      `json:"path"`
					Size int64       `json:"size"`
					Age  float64     `json:"age_seconds"`
					Meta vulndb.Meta `json:"meta"`
				}{p, fi.Size(), time.Since(m.Updated).Seconds(), m})
			}
			return writeStatus(stdio.Out, p, fi.Size(), m)
		},
	}
	status.Flags().StringVarP(&format, "format", "f", "table", "output format: table or json")

	cmd.AddCommand(imp, upd, status)
	return cmd
}

func printStats(stdio IO, path string, st *vulndb.Stats, took time.Duration) {
	for _, p := range st.Invalid {
		fmt.Fprintln(stdio.Err, "skipped:", p)
	}
	fmt.Fprintf(stdio.Out, "%s: %d records (%d read: %d new, %d replaced by a newer copy, %d not newer; %d invalid skipped) in %s\n",
		path, st.Records, st.Read, st.Added, st.Replaced, st.Kept, st.Skipped, took.Round(time.Millisecond))
}

func writeStatus(w io.Writer, path string, size int64, m vulndb.Meta) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	age := time.Since(m.Updated).Round(time.Minute)
	fmt.Fprintf(tw, "Database:\t%s (%s)\n", path, humanSize(size))
	fmt.Fprintf(tw, "Built:\t%s\n", m.Built.Format(time.RFC3339))
	fmt.Fprintf(tw, "Updated:\t%s (%s ago)\n", m.Updated.Format(time.RFC3339), age)
	for i, s := range m.Sources {
		label := ""
		if i == 0 {
			label = "Sources:"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, s)
	}
	fmt.Fprintf(tw, "Records:\t%d\n", m.Records)
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "ECOSYSTEM\tRECORDS")
	releases := map[string][]string{}
	for eco := range m.Ecosystems {
		if b := vulndb.BaseEcosystem(eco); b != eco {
			releases[b] = append(releases[b], eco)
		}
	}
	for _, base := range sorted(m.Bases) {
		fmt.Fprintf(tw, "%s\t%d\n", base, m.Bases[base])
		rs := releases[base]
		sortReleases(rs)
		for _, r := range rs {
			fmt.Fprintf(tw, "  %s\t%d\n", r, m.Ecosystems[r])
		}
	}
	if len(m.Archives) > 0 {
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "ARCHIVE\tRECORDS\tSIZE\tFETCHED\tSOURCE")
		for _, eco := range sorted(m.Archives) {
			a := m.Archives[eco]
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", eco, a.Records, humanSize(a.Size), a.Fetched.Format(time.RFC3339), a.Source)
		}
	}
	return tw.Flush()
}

func humanSize(n int64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

func sorted[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortReleases(keys)
	return keys
}

// sortReleases orders names with numbers by value: Debian:9 before
// Debian:10, Alpine:v3.9 before Alpine:v3.10.
func sortReleases(s []string) {
	slices.SortFunc(s, func(a, b string) int {
		for a != "" && b != "" {
			na, ra := leadingNumber(a)
			nb, rb := leadingNumber(b)
			switch {
			case na >= 0 && nb >= 0:
				if na != nb {
					return na - nb
				}
				a, b = ra, rb
			case a[0] != b[0]:
				return int(a[0]) - int(b[0])
			default:
				a, b = a[1:], b[1:]
			}
		}
		return len(a) - len(b)
	})
}

// leadingNumber returns the number a string starts with, or -1.
func leadingNumber(s string) (int, string) {
	n, i := 0, 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' && n < 1e8 {
		n = n*10 + int(s[i]-'0')
		i++
	}
	if i == 0 {
		return -1, s
	}
	return n, s[i:]
}
