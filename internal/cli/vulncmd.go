package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/pkg/osv"
	"github.com/mamori-dev/mamori/pkg/version"
	"github.com/mamori-dev/mamori/pkg/vulndb"
)

func newVersionCompare(stdio IO) *cobra.Command {
	return &cobra.Command{
		Use:   "version-compare ECOSYSTEM A B",
		Short: "Compare two versions as the ecosystem orders them: prints -1, 0 or 1",
		Long: `Compare two versions exactly as mamori's matcher does, with the ecosystem's own rules.
Ecosystems are spelled as OSV spells them: Debian, Ubuntu, Alpine, Red Hat, Rocky Linux,
AlmaLinux, Wolfi, PyPI, npm, Go, crates.io, Maven, RubyGems, NuGet, Packagist (a release
suffix such as Debian:12 is accepted), or SEMVER. Put -- before versions that begin with a dash.`,
		Example: `  mamori version-compare Debian 3.0.11-1~deb12u1 3.0.11-1      # -1: '~' sorts first
  mamori version-compare PyPI 1.0rc1 1.0.post1                  # -1
  mamori version-compare Maven 2.0-beta9 2.0                    # -1`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := version.Compare(args[0], args[1], args[2])
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(stdio.Out, c)
			return err
		},
	}
}

func newVuln(stdio IO) *cobra.Command {
	v := &cobra.Command{Use: "vuln", Short: "Look up vulnerability records"}
	var (
		db, pkg, ver, eco string
	)
	explain := &cobra.Command{
		Use:   "explain ID",
		Short: "Show a record's affected ranges for a package, and which event decides whether a version is affected",
		Example: `  mamori vuln explain DSA-5532-1 --ecosystem Debian:12 --package openssl --version 3.0.11-1~deb12u1
  mamori vuln explain CVE-2021-44228 --package org.apache.logging.log4j:log4j-core --version 2.14.1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if db == "" {
				db = vulndb.DefaultPath(os.Getenv)
			}
			d, err := vulndb.Open(db)
			if err != nil {
				return err
			}
			defer d.Close()
			recs, err := d.Lookup(args[0])
			if err != nil {
				return err
			}
			if len(recs) > 0 && recs[0].ID == args[0] {
				// The record itself when it names the package; records
				// that mention it otherwise (a CVE known for Go modules
				// by its GO- record).
				if qs, _ := queriesFor(recs[0], eco, pkg, ver); len(qs) > 0 {
					recs = recs[:1]
				}
			}
			shown, skipped := 0, 0
			for _, rec := range recs {
				qs, n := queriesFor(rec, eco, pkg, ver)
				skipped += n
				for _, q := range qs {
					if shown > 0 {
						fmt.Fprintln(stdio.Out)
					}
					if err := osv.Explain(stdio.Out, rec, q); err != nil {
						return err
					}
					shown++
				}
			}
			if shown == 0 {
				return fmt.Errorf("%s: no affected entry for package %q%s where %q is a valid version", args[0], pkg, ecoSuffix(eco), ver)
			}
			if skipped > 0 {
				fmt.Fprintf(stdio.Err, "(%d more ecosystems name %s, where %q is not a valid version; pick one with --ecosystem)\n", skipped, pkg, ver)
			}
			return nil
		},
	}
	f := explain.Flags()
	f.StringVar(&db, "db", "", "vulnerability database (default $MAMORI_DB or ~/.cache/mamori/osv.db)")
	f.StringVar(&pkg, "package", "", "package name as the record names it (source package for distros)")
	f.StringVar(&ver, "version", "", "version to judge")
	f.StringVar(&eco, "ecosystem", "", "ecosystem, e.g. Debian:12 (default: every ecosystem the record names the package in)")
	_ = explain.MarkFlagRequired("package")
	_ = explain.MarkFlagRequired("version")
	v.AddCommand(explain)
	return v
}

// queriesFor lists the ecosystems in which rec names pkg, narrowed to eco
// when given. Without eco, ecosystems whose versions ver is not one of
// (a Debian version against Alpine's entries) are left out and counted.
func queriesFor(rec *osv.Vulnerability, eco, pkg, ver string) ([]osv.Query, int) {
	var qs []osv.Query
	skipped := 0
	seen := map[string]bool{}
	for _, a := range rec.Affected {
		e := a.Package.Ecosystem
		if seen[e] || (eco != "" && e != eco) {
			continue
		}
		if version.Name(e, a.Package.Name) != version.Name(e, pkg) {
			continue
		}
		seen[e] = true
		if eco == "" && version.Valid(e, ver) != nil {
			skipped++
			continue
		}
		qs = append(qs, osv.Query{Ecosystem: e, Name: pkg, Version: ver})
	}
	return qs, skipped
}

func ecoSuffix(eco string) string {
	if eco == "" {
		return ""
	}
	return " in " + strings.TrimSpace(eco)
}
