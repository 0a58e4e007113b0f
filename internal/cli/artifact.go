package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/package-url/packageurl-go"
	"github.com/spf13/cobra"
	yaml "go.yaml.in/yaml/v3"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/inventory/analyzers"
	"github.com/mamori-dev/mamori/pkg/report"
	"github.com/mamori-dev/mamori/pkg/sbom"
	"github.com/mamori-dev/mamori/pkg/secret"
	"github.com/mamori-dev/mamori/pkg/source/disk"
	"github.com/mamori-dev/mamori/pkg/source/image"
	"github.com/mamori-dev/mamori/pkg/vex"
	"github.com/mamori-dev/mamori/pkg/vuln"
	"github.com/mamori-dev/mamori/pkg/vulndb"
)

// SBOM output formats, beside the report formats.
const (
	formatCycloneDX = "cyclonedx"
	formatSPDX      = "spdx-json"
)

// artifactFlags are the flags of scan image, fs, rootfs, vm and sbom.
type artifactFlags struct {
	out            outputFlags
	db             string
	dbMaxAge       time.Duration
	failOnStaleDB  bool
	ignoreUnfixed  bool
	ignoreFiles    []string
	showSuppressed bool
	vex            []string
	sla            string
	firstSeen      string
	failOnOverdue  bool
	insecure       bool
	platform       string
	workers        int
	now            string // hidden: the day judged, for reproducible tests
	scanners       []string
	secretAll      bool
	maxFileSize    int64
}

func (fl *artifactFlags) register(cmd *cobra.Command, kind string) {
	fl.out.register(cmd)
	f := cmd.Flags()
	f.Lookup("format").Usage = "output format: table, json, sarif, junit, or an SBOM: cyclonedx (1.6 JSON), spdx-json (2.3)"
	f.StringVar(&fl.db, "db", "", "vulnerability database (default $MAMORI_DB or ~/.cache/mamori/osv.db; make it with mamori db import or db update)")
	f.DurationVar(&fl.dbMaxAge, "db-max-age", 7*24*time.Hour, "warn when the database was last built longer ago than this")
	f.BoolVar(&fl.failOnStaleDB, "fail-on-stale-db", false, "fail (exit 2) instead of warning when the database is older than --db-max-age")
	f.BoolVar(&fl.ignoreUnfixed, "ignore-unfixed", false, "report only vulnerabilities with a known fixed version")
	f.StringSliceVar(&fl.ignoreFiles, "ignorefile", nil, "exception file (.mamori-ignore.yaml format: check, packages, purls, images, reason, owner, expires; repeatable)")
	f.BoolVar(&fl.showSuppressed, "show-suppressed", false, "list the findings exceptions and VEX statements suppressed, and by which")
	f.StringSliceVar(&fl.vex, "vex", nil, "OpenVEX document whose not_affected and fixed statements suppress findings (repeatable)")
	f.StringVar(&fl.sla, "sla", "", "days allowed to fix a finding per severity, e.g. CRITICAL=7,HIGH=30,MEDIUM=90: findings get a due date and past-due ones are marked")
	f.StringVar(&fl.firstSeen, "first-seen", "", "YAML or JSON map of finding fingerprint or vulnerability ID to the date it was first seen (YYYY-MM-DD); the SLA counts from it instead of the record's publication")
	f.BoolVar(&fl.failOnOverdue, "fail-on-overdue", false, "exit with --exit-code when any finding is past its SLA due date")
	f.IntVar(&fl.workers, "workers", 0, "files analysed in parallel (0: one per CPU)")
	f.StringVar(&fl.now, "now", "", "judge expiry, SLA and end of life as on this date (YYYY-MM-DD)")
	_ = f.MarkHidden("now")
	if kind == "image" || kind == "rootfs" || kind == "fs" {
		f.StringSliceVar(&fl.scanners, "scanners", []string{"vuln"}, "what to look for: vuln (vulnerable packages), secret (leaked credentials), or both: vuln,secret")
		f.BoolVar(&fl.secretAll, "secret-all", false, "with --scanners secret, scan lock files and vendored trees (node_modules, site-packages, vendor) too")
		f.Int64Var(&fl.maxFileSize, "max-file-size", secret.DefaultMaxFileSize, "with --scanners secret, the largest file to read, in bytes; larger ones are noted and skipped")
	}
	if kind == "image" {
		f.BoolVar(&fl.insecure, "insecure", false, "allow plain HTTP and unverified TLS for the registry")
		f.StringVar(&fl.platform, "platform", "", "platform to pick from a multi-arch image, e.g. linux/arm64 (default linux/amd64)")
	}
}

func newScanArtifacts(stdio IO) []*cobra.Command {
	type spec struct {
		use, short, example string
	}
	specs := map[string]spec{
		"image": {"image REF", "Scan a container image for vulnerable packages: an OCI layout directory, a docker save or OCI tarball, or a registry reference",
			"  mamori scan image alpine:3.20\n  mamori scan image --format cyclonedx -o sbom.json ./image.tar\n  mamori scan image --platform linux/arm64 registry.example.com/app@sha256:…"},
		"rootfs": {"rootfs DIR", "Scan an unpacked OS filesystem (a container's or a VM's root) for vulnerable packages",
			"  mamori scan rootfs /var/lib/machines/debian\n  mamori scan rootfs --ignore-unfixed --fail-on HIGH ./rootfs"},
		"fs": {"fs DIR", "Scan a source tree's lock files and manifests for vulnerable dependencies",
			"  mamori scan fs .\n  mamori scan fs --format spdx-json -o sbom.spdx.json ."},
		"vm": {"vm DISK", "Scan a raw VM disk image (ext2/3/4, MBR or GPT) without mounting it",
			"  mamori scan vm snapshot.raw"},
		"sbom": {"sbom FILE", "Match the packages a CycloneDX or SPDX JSON SBOM lists",
			"  mamori scan sbom bom.cdx.json"},
	}
	var cmds []*cobra.Command
	for _, kind := range []string{"image", "rootfs", "fs", "vm", "sbom"} {
		s := specs[kind]
		fl := &artifactFlags{}
		cmd := &cobra.Command{
			Use: s.use, Short: s.short, Example: s.example,
			Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return runScanArtifact(cmd.Context(), stdio, kind, fl, args[0])
			},
		}
		fl.register(cmd, kind)
		cmds = append(cmds, cmd)
	}
	return cmds
}

// artifact is an inventory and what it was taken from.
type artifact struct {
	// secrets is the secret scan's report, with --scanners secret.
	secrets *finding.Report
	inv     *inventory.Inventory
	name    string // as reported: the reference with its digest, the path
	ref     string // a registry reference, for images pulled from one
	digest  string
	notes   []finding.Problem
}

func runScanArtifact(ctx context.Context, stdio IO, kind string, fl *artifactFlags, target string) error {
	format := strings.ToLower(fl.out.format)
	sbomOut := format == formatCycloneDX || format == formatSPDX || format == "spdx"
	var repFormat report.Format
	if !sbomOut {
		var err error
		if repFormat, err = report.ParseFormat(format); err != nil {
			return fmt.Errorf("%w (or cyclonedx, spdx-json)", err)
		}
	}
	show, err := parseSeverities(fl.out.severity)
	if err != nil {
		return err
	}
	failOn, err := finding.ParseSeverity(fl.out.failOn)
	if err != nil {
		return fmt.Errorf("--fail-on: %w", err)
	}
	now := time.Now()
	if fl.now != "" {
		if now, err = time.Parse(time.DateOnly, fl.now); err != nil {
			return fmt.Errorf("--now: want YYYY-MM-DD: %w", err)
		}
	}
	opts := vuln.Options{Now: now, IgnoreUnfixed: fl.ignoreUnfixed}
	if fl.sla != "" {
		if opts.SLA, err = vuln.ParseSLA(fl.sla); err != nil {
			return fmt.Errorf("--sla: %w", err)
		}
	}
	if fl.firstSeen != "" {
		if opts.FirstSeen, err = loadFirstSeen(fl.firstSeen); err != nil {
			return err
		}
	}
	wantVuln, secrets, err := fl.scannerSet(now)
	if err != nil {
		return err
	}
	if sbomOut && (!wantVuln || secrets != nil) {
		return fmt.Errorf("--format %s writes an SBOM, which lists packages: use --scanners vuln", format)
	}
	// Exceptions and VEX load before the scan: a typo should not cost a
	// pull.
	ignores, problems, err := loadIgnoreFiles(fl.ignoreFiles)
	if err != nil {
		return err
	}
	vexSet, err := vex.Load(fl.vex...)
	if err != nil {
		return fmt.Errorf("--vex: %w", err)
	}

	art, err := collect(ctx, stdio, kind, fl, target, wantVuln, secrets)
	if err != nil {
		return err
	}
	if sbomOut {
		return writeSBOM(stdio, fl, format, kind, art)
	}
	if !wantVuln {
		rep := art.secrets
		ignores.Apply(rep, now)
		rep.Errors = append(problems, rep.Errors...)
		rep.Sort()
		fl.out.showSuppressed = fl.showSuppressed
		return finishReport(stdio, &fl.out, repFormat, show, failOn, rep, "scan "+kind)
	}

	dbPath := fl.db
	if dbPath == "" {
		dbPath = vulndb.DefaultPath(os.Getenv)
	}
	db, err := vulndb.Open(dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	meta := db.Meta()
	if age := now.Sub(meta.Updated); fl.dbMaxAge > 0 && age > fl.dbMaxAge {
		msg := fmt.Sprintf("vulnerability database %s was last updated %s ago (%s), older than --db-max-age %s; run mamori db update", dbPath, age.Round(time.Hour), meta.Updated.Format(time.DateOnly), fl.dbMaxAge)
		if fl.failOnStaleDB {
			return errors.New(msg)
		}
		fmt.Fprintln(stdio.Err, "warning:", msg)
	}

	res, err := vuln.Match(ctx, db, art.inv, opts)
	if err != nil {
		return err
	}
	rep := &finding.Report{
		Targets:    []string{target},
		Files:      countFiles(art.inv),
		Objects:    res.Packages,
		ObjectNoun: "package",
		Findings:   res.Findings,
		Rules:      res.Rules,
		Notes:      append(art.notes, res.Notes...),
		Errors:     problems,
		Artifact: &finding.Artifact{
			Name: art.name, Kind: kind, Digest: art.digest, Packages: len(art.inv.Packages),
			DB: &finding.DBInfo{Path: dbPath, Updated: meta.Updated.UTC().Format(time.RFC3339), Source: strings.Join(meta.Sources, ", ")},
		},
	}
	if o := art.inv.OS; o != nil {
		rep.Artifact.OS = strings.TrimSpace(o.Name)
		rep.Artifact.OSEcosystem = o.Ecosystem
		if !o.EOL.IsZero() {
			rep.Artifact.OSEOL = o.EOL.Format(time.DateOnly)
		}
	}
	for _, p := range art.inv.Problems {
		rep.Errors = append(rep.Errors, problem(p))
	}
	for i := range rep.Findings {
		if v := rep.Findings[i].Vulnerability; v != nil {
			v.Target = art.name
		}
	}
	if sr := art.secrets; sr != nil {
		rep.Findings = append(rep.Findings, sr.Findings...)
		rep.Suppressed = append(rep.Suppressed, sr.Suppressed...)
		rep.Rules = append(rep.Rules, sr.Rules...)
		rep.Errors = append(rep.Errors, sr.Errors...)
		rep.Notes = append(rep.Notes, sr.Notes...)
	}
	applyVEX(rep, vexSet, art)
	ignores.Apply(rep, now)
	if show != nil {
		kept := rep.Findings[:0]
		for _, f := range rep.Findings {
			if show[f.Severity()] {
				kept = append(kept, f)
			}
		}
		rep.Findings = kept
	}
	rep.Sort()
	fl.out.showSuppressed = fl.showSuppressed
	if err := writeReport(stdio, &fl.out, repFormat, rep, "scan "+kind); err != nil {
		return err
	}
	if repFormat != report.Table || fl.out.output != "" {
		fmt.Fprintln(stdio.Err, report.Summary(rep))
		for _, p := range rep.Errors {
			fmt.Fprintln(stdio.Err, "error:", p.String())
		}
	}
	overdue := 0
	for _, f := range rep.Findings {
		if f.Vulnerability != nil && f.Vulnerability.Overdue {
			overdue++
		}
	}
	if overdue > 0 {
		fmt.Fprintf(stdio.Err, "%d findings are past their SLA due date\n", overdue)
	}
	switch {
	case len(rep.Errors) > 0:
		return &exitError{ExitError}
	case fl.out.exitCode != 0 && len(rep.Findings) > 0 && rep.HighestSeverity() >= failOn:
		return &exitError{fl.out.exitCode}
	case fl.out.exitCode != 0 && fl.failOnOverdue && overdue > 0:
		return &exitError{fl.out.exitCode}
	}
	return nil
}

// scannerSet parses --scanners: whether to match vulnerabilities, and the
// secret scanner when secrets are wanted.
func (fl *artifactFlags) scannerSet(now time.Time) (vuln bool, secrets *secret.Scanner, err error) {
	if len(fl.scanners) == 0 {
		return true, nil, nil
	}
	for _, s := range fl.scanners {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "vuln":
			vuln = true
		case "secret":
			eng, err := newSecretEngine()
			if err != nil {
				return false, nil, err
			}
			secrets = secret.NewScanner(eng, secret.Options{Workers: fl.workers, All: fl.secretAll, MaxFileSize: fl.maxFileSize,
				NoGitignore: true, Now: func() time.Time { return now }})
		default:
			return false, nil, fmt.Errorf("--scanners %q: want vuln, secret or vuln,secret", s)
		}
	}
	return vuln, secrets, nil
}

// collect takes the inventory of the target (when vuln is set) and runs
// the secret scan (when secrets is set).
func collect(ctx context.Context, stdio IO, kind string, fl *artifactFlags, target string, vuln bool, secrets *secret.Scanner) (*artifact, error) {
	sc := &inventory.Scanner{Workers: fl.workers}
	art, err := collectInventory(ctx, stdio, kind, fl, target, sc, vuln, secrets)
	if err != nil {
		return nil, err
	}
	if secrets != nil && art.secrets == nil {
		if art.secrets, err = secrets.Scan(ctx, []string{target}); err != nil {
			return nil, err
		}
	}
	return art, nil
}

func collectInventory(ctx context.Context, stdio IO, kind string, fl *artifactFlags, target string, sc *inventory.Scanner, vuln bool, secrets *secret.Scanner) (*artifact, error) {
	if !vuln && kind != "image" {
		return &artifact{inv: &inventory.Inventory{}, name: target}, nil
	}
	switch kind {
	case "image":
		sc.Analyzers = analyzers.Installed()
		im, err := image.Open(ctx, target, image.Options{Insecure: fl.insecure, Platform: fl.platform})
		if err != nil {
			return nil, err
		}
		defer im.Close()
		name := target
		if im.Digest != "" && !strings.Contains(target, "@") {
			name = target + "@" + im.Digest
		}
		inv := &inventory.Inventory{}
		if vuln {
			if inv, err = im.Inventory(ctx, sc); err != nil {
				return nil, err
			}
		}
		art := &artifact{inv: inv, name: name, digest: im.Digest}
		if secrets != nil {
			if art.secrets, err = secrets.ScanImage(ctx, im, name); err != nil {
				return nil, err
			}
		}
		if _, err := os.Stat(target); err != nil {
			art.ref = target // not a local layout or tarball
		}
		return art, nil
	case "rootfs", "fs":
		if fi, err := os.Stat(target); err != nil {
			return nil, err
		} else if !fi.IsDir() {
			return nil, fmt.Errorf("%s: not a directory", target)
		}
		tree := inventory.Dir{Root: target, Skip: inventory.RootfsSkip}
		sc.Analyzers = analyzers.Installed()
		if kind == "fs" {
			tree.Skip = skipSourceDir
			sc.Analyzers = analyzers.Source()
		}
		inv, err := sc.Scan(ctx, tree)
		if err != nil {
			return nil, err
		}
		return &artifact{inv: inv, name: target}, nil
	case "vm":
		return collectDisk(ctx, sc, target)
	case "sbom":
		f, err := os.Open(target)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		inv, _, err := sbom.Read(f, target)
		if err != nil {
			return nil, err
		}
		art := &artifact{inv: inv, name: target}
		if n := sbom.Unmatchable(inv); n > 0 {
			art.notes = append(art.notes, finding.Problem{File: target, Message: fmt.Sprintf("%d components have no package URL mamori can match (no PURL or an unknown type)", n)})
		}
		return art, nil
	}
	return nil, fmt.Errorf("unknown scan kind %q", kind)
}

// skipSourceDir leaves out version control and dependency caches in a
// source tree; node_modules stays out too, as the lock file says what is
// installed.
func skipSourceDir(path string) bool {
	switch filepath.Base(path) {
	case ".git", ".hg", ".svn", "node_modules", ".venv", "__pycache__", ".tox", "target", ".gradle":
		return true
	}
	return false
}

// collectDisk inventories every ext2/3/4 partition of a disk image as one
// system; partitions mamori cannot read are noted, and a disk with none
// it can read is an error.
func collectDisk(ctx context.Context, sc *inventory.Scanner, path string) (*artifact, error) {
	d, err := disk.Open(path)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	sc.Analyzers = analyzers.Installed()
	art := &artifact{inv: &inventory.Inventory{}, name: path}
	var unsupported []string
	read := 0
	for _, p := range d.Partitions() {
		tree, err := p.Tree()
		if err != nil {
			unsupported = append(unsupported, err.Error())
			art.notes = append(art.notes, finding.Problem{File: path, Message: err.Error()})
			continue
		}
		inv, err := sc.Scan(ctx, tree)
		if err != nil {
			return nil, fmt.Errorf("%s: partition %d: %w", path, p.Index, err)
		}
		read++
		prefix := fmt.Sprintf("partition%d/", p.Index)
		for _, pkg := range inv.Packages {
			pkg.Path = prefix + pkg.Path
			art.inv.Packages = append(art.inv.Packages, pkg)
		}
		for _, pr := range inv.Problems {
			pr.Path = prefix + pr.Path
			art.inv.Problems = append(art.inv.Problems, pr)
		}
		if inv.OS != nil && art.inv.OS == nil {
			o := *inv.OS
			o.Path = prefix + o.Path
			art.inv.OS = &o
		}
	}
	if read == 0 {
		return nil, fmt.Errorf("%s: no partition mamori can read: %s", path, strings.Join(unsupported, "; "))
	}
	for i := range art.inv.Packages {
		// OS package URLs and ecosystems follow the OS of the whole disk.
		p := &art.inv.Packages[i]
		if inventory.OSEcosystem(p.Type, nil) != "" {
			p.Ecosystem, p.PURL = "", ""
		}
	}
	inventory.Finish(art.inv)
	return art, nil
}

// problem turns a file the inventory could not read into a report error:
// the file, then the layer it is in and what could not read it.
func problem(p inventory.Problem) finding.Problem {
	msg := p.Err.Error()
	if p.Analyzer != "" {
		msg = p.Analyzer + ": " + msg
	}
	if l := p.Layer; l != nil {
		msg = fmt.Sprintf("in layer %d (%s): %s", l.Index, l.Digest, msg)
	}
	return finding.Problem{File: p.Path, Message: msg}
}

func countFiles(inv *inventory.Inventory) int {
	var files []string
	for _, p := range inv.Packages {
		files = append(files, p.Path)
	}
	slices.Sort(files)
	return len(slices.Compact(files))
}

func writeSBOM(stdio IO, fl *artifactFlags, format, kind string, art *artifact) error {
	w, _, done, err := openOutput(stdio, &fl.out)
	if err != nil {
		return err
	}
	meta := sbom.Meta{Name: art.name, Kind: kind, Digest: art.digest, ToolVersion: Version, Timestamp: time.Now().UTC()}
	if fl.now != "" {
		meta.Timestamp, _ = time.Parse(time.DateOnly, fl.now)
	}
	if format == formatCycloneDX {
		err = sbom.WriteCycloneDX(w, art.inv, meta)
	} else {
		err = sbom.WriteSPDX(w, art.inv, meta)
	}
	for _, p := range art.inv.Problems {
		fmt.Fprintln(stdio.Err, "error:", problem(p).String())
	}
	if err = errors.Join(err, done()); err != nil {
		return err
	}
	if len(art.inv.Problems) > 0 {
		return &exitError{ExitError}
	}
	return nil
}

// applyVEX moves findings a VEX statement declares not_affected or fixed
// to the suppressed list, with the statement.
func applyVEX(rep *finding.Report, set *vex.Set, art *artifact) {
	if set == nil {
		return
	}
	products := []string{art.name}
	if art.digest != "" {
		products = append(products, art.digest)
		if p := ociPURL(art.ref, art.digest); p != "" {
			products = append(products, p)
		}
	}
	kept := rep.Findings[:0]
	for _, f := range rep.Findings {
		v := f.Vulnerability
		if v == nil {
			kept = append(kept, f)
			continue
		}
		ids := append([]string{v.ID, v.Record}, v.Aliases...)
		st, ok := set.Lookup(ids, products, v.PURL)
		if !ok || (st.Status != vex.NotAffected && st.Status != vex.Fixed) {
			kept = append(kept, f)
			continue
		}
		reason := string(st.Status)
		if st.Justification != "" {
			reason += ": " + st.Justification
		}
		if st.ImpactStatement != "" {
			reason += ": " + st.ImpactStatement
		}
		file, line := st.Source, 0
		if i := strings.LastIndexByte(file, ':'); i > 0 {
			if n, err := strconv.Atoi(file[i+1:]); err == nil {
				file, line = file[:i], n
			}
		}
		rep.Suppressed = append(rep.Suppressed, finding.Suppression{Finding: f, Exception: finding.ExceptionRef{
			File: file, Line: line, Check: v.ID, Reason: "VEX " + reason, Owner: "VEX",
		}})
	}
	rep.Findings = kept
}

// ociPURL is the package URL OpenVEX documents name an image by:
// pkg:oci/api@sha256%3A…?repository_url=registry.example.com/shop/api.
// It is empty for local images (layouts and tarballs).
func ociPURL(ref, digest string) string {
	if ref == "" {
		return ""
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return ""
	}
	repo := r.Context()
	base := repo.RepositoryStr()
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		base = base[i+1:]
	}
	q := packageurl.Qualifiers{{Key: "repository_url", Value: repo.Name()}}
	return packageurl.NewPackageURL("oci", "", strings.ToLower(base), digest, q, "").ToString()
}

// loadFirstSeen reads a map of fingerprint or vulnerability ID to date.
func loadFirstSeen(path string) (map[string]time.Time, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--first-seen: %w", err)
	}
	var raw map[string]string
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("--first-seen %s: want a map of fingerprint or ID to YYYY-MM-DD: %v", path, err)
	}
	out := make(map[string]time.Time, len(raw))
	for k, v := range raw {
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return nil, fmt.Errorf("--first-seen %s: %s: %q is not a YYYY-MM-DD date", path, k, v)
		}
		out[k] = t
	}
	return out, nil
}
