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
	"errors"
	"fmt"
	"os"
	"strings"

	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

const (
	leaderElectionID  = "finx-operator.banking.finx-operator.io"
	inClusterNSPath   = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
	leaderUserAgentID = "leader-election"
)

// leaderLock is the Lease lock under the instance's identity. controller-runtime's default identity
// is new in every process, so a container restarted after a crash waits out its own dead Lease
// (15 s) before it may reconcile again, and finX's reuse grace runs out meanwhile. The instance
// (the Pod's UID) is stable across restarts of one container and unique among live Pods, so the
// restarted process renews its own Lease at once: the process that held it is dead.
func leaderLock(cfg *rest.Config, namespace, instance string) (resourcelock.Interface, error) {
	if namespace == "" {
		b, err := os.ReadFile(inClusterNSPath)
		if err != nil {
			return nil, errors.New("--leader-election-namespace is required outside a cluster")
		}
		namespace = strings.TrimSpace(string(b))
	}
	cfg = rest.AddUserAgent(rest.CopyConfig(cfg), leaderUserAgentID)
	core, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("leader election client: %w", err)
	}
	coord, err := coordinationv1client.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("leader election client: %w", err)
	}
	return resourcelock.New(resourcelock.LeasesResourceLock, namespace, leaderElectionID, core, coord,
		resourcelock.ResourceLockConfig{Identity: instance})
}
