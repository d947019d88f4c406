// Package testenv starts a real control plane (etcd and kube-apiserver built by
// hack/build-control-plane.sh) for the project's envtest suites.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RepoRoot returns the repository root, found from this source file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Start launches etcd and kube-apiserver with the project's CRDs installed. It refuses to run
// without KUBEBUILDER_ASSETS rather than letting envtest try to download binaries.
func Start() (*envtest.Environment, *rest.Config, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, nil, fmt.Errorf("KUBEBUILDER_ASSETS is not set: run `make test`, or " +
			"export KUBEBUILDER_ASSETS=$(hack/build-control-plane.sh) before `go test`")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, nil, fmt.Errorf("KUBEBUILDER_ASSETS=%s has no %s: run hack/build-control-plane.sh", assets, bin)
		}
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("starting the control plane: %w", err)
	}
	return env, cfg, nil
}
