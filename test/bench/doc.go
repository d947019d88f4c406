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

// Package bench holds end-to-end benchmarks of the operator: the real controllers and callback
// endpoint, wired as cmd/main.go wires them, against a real kube-apiserver and etcd (envtest) and the
// finX sandbox in-process.
//
// Run them with
//
//	KUBEBUILDER_ASSETS=$(hack/build-control-plane.sh) go test ./test/bench/ -run '^$' -bench . -benchtime 20x
//
// Plain `go test ./test/bench/` runs no benchmark and starts nothing. Sizes and knobs, all optional:
//
//	BENCH_CONNECTIONS           connections refreshed together by BenchmarkRefreshThroughput (50)
//	BENCH_MEMORY_CONNECTIONS    Connected connections held by BenchmarkManagerMemory (200)
//	BENCH_UNRELATED_SECRETS     unlabelled Secrets created by BenchmarkManagerMemory (2000)
//	BENCH_UNRELATED_SECRET_SIZE bytes of data in each unrelated Secret (1024)
//	BENCH_MAX_CONCURRENT        the manager's MaxConcurrentReconciles (16, cmd/main.go's default)
//	BENCH_SETUP_PARALLELISM     connections authorised at once while preparing fixtures (8)
//	BENCH_WAIT_TIMEOUT          how long any single wait may take before the benchmark fails (60s)
//	BENCH_LOG                   the operator's log level on stderr: error (default), info, debug, or off
//
// TestScale (scale_test.go) is different: it runs the manager and the sandbox as processes on a
// control plane of processes, against a minimal controller as the baseline, and only with
// BENCH_SCALE=1; its knobs are listed at the top of that file.
package bench
