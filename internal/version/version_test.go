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

package version_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/finx-operator/finx-operator/internal/testenv"
)

// Every binary reports the version stamped with -ldflags, as the Makefile and the Dockerfile build it.
func TestBinariesReportTheStampedVersion(t *testing.T) {
	const stamped = "v9.8.7-test"
	dir := t.TempDir()
	for pkg, want := range map[string]string{
		"./cmd":              "finx-operator " + stamped,
		"./cmd/finx-sandbox": "finx-sandbox " + stamped,
		"./cmd/kubectl-finx": "kubectl-finx " + stamped,
	} {
		bin := filepath.Join(dir, filepath.Base(pkg))
		build := exec.Command("go", "build", "-ldflags",
			"-X github.com/finx-operator/finx-operator/internal/version.Version="+stamped, "-o", bin, pkg)
		build.Dir = testenv.RepoRoot()
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", pkg, err, out)
		}
		out, err := exec.Command(bin, "--version").CombinedOutput()
		if err != nil {
			t.Errorf("%s --version: %v\n%s", pkg, err, out)
			continue
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("%s --version printed %q, want %q", pkg, got, want)
		}
	}
}
