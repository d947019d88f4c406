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

package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/finx-operator/finx-operator/internal/devcluster"
	"github.com/finx-operator/finx-operator/internal/testenv"
)

// dist/install.yaml: config/default with the release image, namespaces and CRDs first.
func TestRenderPinsTheImage(t *testing.T) {
	var out bytes.Buffer
	dir := filepath.Join(testenv.RepoRoot(), "config", "default")
	if err := run(&out, dir, "finx-operator=registry.example.com/finx-operator:v1.2.3"); err != nil {
		t.Fatal(err)
	}
	objs, err := devcluster.DecodeYAML(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	seenOther := false
	for _, o := range objs {
		first := o.GetKind() == "Namespace" || o.GetKind() == "CustomResourceDefinition"
		if first && seenOther {
			t.Errorf("%s %s comes after objects that need it", o.GetKind(), o.GetName())
		}
		seenOther = seenOther || !first
	}
	if !strings.Contains(out.String(), "image: registry.example.com/finx-operator:v1.2.3\n") ||
		strings.Contains(out.String(), "finx-operator:latest") {
		t.Error("the manager image is not the pinned one")
	}
	if err := run(&out, dir, "finx-operator=no-tag"); err == nil {
		t.Error("an image without a tag was accepted")
	}
}
