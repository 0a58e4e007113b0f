// Package kustomize renders Kustomize roots with the Kustomize API (krusty)
// and maps every rendered object back to the resource file it came from,
// so that findings point at the file a person edits and name the overlay.
package kustomize

import (
	"os"
	"path"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// Markers are the file names that make a directory a Kustomize root.
var Markers = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

const originAnnotation = "config.kubernetes.io/origin"

// Render builds the Kustomize root at dir (named name in reports, marker
// its kustomization file) and returns its objects, relocated to their
// origin files. A root that fails to build is one problem naming it.
func Render(name, dir, marker string) ([]*manifest.Object, []finding.Problem) {
	kfile := path.Join(name, marker)
	fail := func(err error) []finding.Problem {
		return []finding.Problem{{File: kfile, Message: "kustomize build: " + strings.TrimSpace(err.Error())}}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fail(err)
	}
	fs := originFS{FileSystem: filesys.MakeFsOnDisk(), kustomization: filepath.Join(abs, marker)}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, abs)
	if err != nil {
		return nil, fail(err)
	}
	source := "kustomize " + name
	sources := map[string][]*manifest.Object{} // origin file -> its objects
	var objs []*manifest.Object
	var problems []finding.Problem
	for _, r := range m.Resources() {
		origin, _ := r.GetOrigin()
		annotations := r.GetAnnotations()
		delete(annotations, originAnnotation)
		if err := r.SetAnnotations(annotations); err != nil {
			return nil, fail(err)
		}
		y, err := r.AsYAML()
		if err != nil {
			return nil, fail(err)
		}
		parsed := manifest.Parse(source, y)
		problems = append(problems, parsed.Errors...)
		for _, o := range parsed.Objects {
			if origin != nil && origin.Path != "" && origin.Repo == "" {
				file := path.Join(name, filepath.ToSlash(origin.Path))
				if _, ok := sources[file]; !ok {
					sources[file] = load(file, filepath.Join(abs, filepath.FromSlash(origin.Path)))
				}
				if src := match(o, sources[file]); src != nil {
					o.Relocate(src, source)
				}
			}
			objs = append(objs, o)
		}
	}
	return objs, problems
}

func load(name, p string) []*manifest.Object {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	return manifest.Parse(name, data).Objects
}

// match finds the object o was rendered from among candidates: the same
// kind, and the name that o's name (with any prefix or suffix added)
// contains at greatest length.
func match(o *manifest.Object, candidates []*manifest.Object) *manifest.Object {
	var best *manifest.Object
	for _, c := range candidates {
		if c.Kind() != o.Kind() || !strings.Contains(o.Name(), c.Name()) {
			continue
		}
		if best == nil || len(c.Name()) > len(best.Name()) {
			best = c
		}
	}
	return best
}

// originFS serves the root kustomization with origin annotations turned
// on, so that every rendered resource says which file it came from.
type originFS struct {
	filesys.FileSystem
	kustomization string
}

func (f originFS) ReadFile(p string) ([]byte, error) {
	b, err := f.FileSystem.ReadFile(p)
	if err != nil || p != f.kustomization {
		return b, err
	}
	if strings.Contains(string(b), "buildMetadata") {
		// The file sets its own; objects then stay in the rendered stream.
		return b, nil
	}
	return append(append(b, '\n'), "buildMetadata: [originAnnotations]\n"...), nil
}
