// Package helm renders Helm charts (directories with Chart.yaml, or
// packaged .tgz archives) with the Helm SDK's own loader, values merging
// and template engine, as `helm template` would, and traces every rendered
// object back to its template file and, where the template spells the
// field out, to its line.
package helm

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/engine"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// Marker makes a directory a chart; Archive is a packaged chart's
// extension.
const (
	Marker  = "Chart.yaml"
	Archive = ".tgz"
)

// Values are the values a chart is rendered with beyond its defaults, as
// helm takes them.
type Values struct {
	Files     []string // --values
	Set       []string // --set
	SetString []string // --set-string
}

// ReleaseName is the release name charts are rendered with, as
// `helm template` does without one.
const ReleaseName = "release-name"

// Render renders the chart at p (a directory or a .tgz, named name in
// reports) and returns its objects traced to their templates. A chart that
// fails to load or render is one problem naming it.
func Render(name, p string, vals Values) ([]*manifest.Object, []finding.Problem) {
	fail := func(format string, args ...any) []finding.Problem {
		file := name
		if !strings.HasSuffix(name, Archive) {
			file = path.Join(name, Marker)
		}
		return []finding.Problem{{File: file, Message: fmt.Sprintf(format, args...)}}
	}
	ch, err := loader.Load(p)
	if err != nil {
		return nil, fail("helm chart: %v", err)
	}
	opts := values.Options{ValueFiles: vals.Files, Values: vals.Set, StringValues: vals.SetString}
	merged, err := opts.MergeValues(nil)
	if err != nil {
		return nil, fail("helm values: %v", err)
	}
	if err := chartutil.ProcessDependencies(ch, merged); err != nil {
		return nil, fail("helm dependencies: %v", err)
	}
	rv, err := util.ToRenderValuesWithSchemaValidation(ch, merged,
		common.ReleaseOptions{Name: ReleaseName, Namespace: "default", IsInstall: true}, common.DefaultCapabilities, false)
	if err != nil {
		return nil, fail("helm values: %v", err)
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		return nil, fail("helm template: %v", err)
	}
	sources := templateSources(ch, ch.Name())
	source := "helm chart " + ch.Name()
	var (
		objs     []*manifest.Object
		problems []finding.Problem
	)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names) // map order must not leak into reports
	for _, n := range names {
		base := path.Base(n)
		if strings.HasPrefix(base, "_") || !strings.HasSuffix(base, ".yaml") && !strings.HasSuffix(base, ".yml") && !strings.HasSuffix(base, ".json") {
			continue // helpers, NOTES.txt
		}
		if strings.TrimSpace(files[n]) == "" {
			continue
		}
		// Report templates by the path a person edits: the chart's
		// directory (or archive) plus the template's path in the chart.
		file := path.Join(name, strings.TrimPrefix(n, ch.Name()+"/"))
		parsed := manifest.Parse(file+" (rendered)", []byte(files[n]))
		problems = append(problems, parsed.Errors...)
		tmpl := sources[n]
		for _, o := range parsed.Objects {
			o.Trace(file, source, tracer(tmpl))
			objs = append(objs, o)
		}
	}
	return objs, problems
}

// templateSources maps rendered names (chart/templates/x.yaml,
// chart/charts/sub/templates/y.yaml) to template text.
func templateSources(ch *chartv2.Chart, prefix string) map[string]string {
	out := map[string]string{}
	for _, t := range ch.Templates {
		out[prefix+"/"+t.Name] = string(t.Data)
	}
	for _, d := range ch.Dependencies() {
		for k, v := range templateSources(d, prefix+"/charts/"+d.Name()) {
			out[k] = v
		}
	}
	return out
}

// tracer follows a field path's keys through the template text in order:
// the line of the last key found is where the field is written, or, when
// a helper or toYaml produced the rest, its nearest traced ancestor.
func tracer(tmpl string) func(path string) int {
	lines := strings.Split(tmpl, "\n")
	return func(p string) int {
		segs, err := manifest.ParsePath(p)
		if err != nil || tmpl == "" {
			return 0
		}
		cursor, found := 0, 0
		for _, s := range segs {
			if s.Key == "" {
				continue // list items are not spelled out by key
			}
			re := keyPattern(s.Key)
			hit := -1
			for i := cursor; i < len(lines); i++ {
				if re.MatchString(lines[i]) {
					hit = i
					break
				}
			}
			if hit < 0 {
				break
			}
			cursor, found = hit, hit+1
		}
		return found
	}
}

func keyPattern(key string) *regexp.Regexp {
	return regexp.MustCompile(`(^|[\s{,-])["']?` + regexp.QuoteMeta(key) + `["']?\s*:`)
}
