/*
Copyright 2026 The finx-operator authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Command render prints a kustomization as `kustomize build` would, optionally with the manager
// image replaced, using the kustomize library the project already builds with (no kustomize
// binary needed). `make dist` uses it for dist/install.yaml.
//
//	go run ./hack/render [--image finx-operator=registry/finx-operator:v1.2.3] config/default
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/finx-operator/finx-operator/internal/devcluster"
)

func main() {
	image := flag.String("image", "", "NAME=REPOSITORY:TAG: replace image NAME (as the kustomization renders it)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: render [--image NAME=REPO:TAG] DIR")
		os.Exit(2)
	}
	if err := run(os.Stdout, flag.Arg(0), *image); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, dir, image string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	target := abs
	if image != "" {
		name, ref, ok := strings.Cut(image, "=")
		repo, tag, hasTag := strings.Cut(ref, ":")
		if !ok || !hasTag || name == "" || repo == "" || tag == "" {
			return fmt.Errorf("--image %q: want NAME=REPOSITORY:TAG", image)
		}
		// An overlay on top of dir replaces the image, leaving the tree untouched.
		overlay, err := os.MkdirTemp("", "render-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(overlay)
		rel, err := filepath.Rel(overlay, abs) // kustomize refuses absolute resource paths
		if err != nil {
			return err
		}
		k := fmt.Sprintf("resources:\n- %s\nimages:\n- name: %s\n  newName: %s\n  newTag: %s\n", rel, name, repo, tag)
		if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(k), 0o644); err != nil {
			return err
		}
		target = overlay
	}
	objs, err := devcluster.RenderKustomization(target)
	if err != nil {
		return err
	}
	// Namespaces and CRDs first, as kubectl apply needs them before what lives in them.
	first := func(kind string) bool { return kind == "Namespace" || kind == "CustomResourceDefinition" }
	sort.SliceStable(objs, func(i, j int) bool { return first(objs[i].GetKind()) && !first(objs[j].GetKind()) })
	for i, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(w, "---")
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}
