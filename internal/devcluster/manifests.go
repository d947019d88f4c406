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

package devcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// RenderKustomization builds the kustomization in dir, as `kustomize build dir`
// does, and returns the resulting objects in kustomize's order (namespaces and
// CRDs first).
func RenderKustomization(dir string) ([]*unstructured.Unstructured, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	objs := make([]*unstructured.Unstructured, 0, resources.Size())
	for _, r := range resources.Resources() {
		// Through JSON, not r.Map(): kustomize's maps hold plain ints, which
		// Unstructured cannot deep-copy; the JSON decoder yields int64.
		b, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, r.CurId(), err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, r.CurId(), err)
		}
		objs = append(objs, u)
	}
	return objs, nil
}

// DecodeYAML decodes a multi-document YAML (or JSON) stream. Empty documents
// are skipped and List kinds are flattened into their items, as kubectl does.
func DecodeYAML(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for doc := 1; ; doc++ {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("decoding YAML document %d: %w", doc, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetAPIVersion() == "" || u.GetKind() == "" {
			return nil, fmt.Errorf("YAML document %d has no apiVersion or kind", doc)
		}
		if u.IsList() {
			list, err := u.ToList()
			if err != nil {
				return nil, fmt.Errorf("YAML document %d: %w", doc, err)
			}
			for i := range list.Items {
				objs = append(objs, &list.Items[i])
			}
			continue
		}
		objs = append(objs, u)
	}
}

var crdGroupKind = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}

// mappingTimeout bounds how long an apply waits for a kind to show up in
// discovery, which a freshly established CRD's kind does within a second.
const mappingTimeout = 15 * time.Second

// ServerSideApply applies objs with server-side apply as fieldManager, forcing
// ownership of conflicting fields (like `kubectl apply --server-side
// --force-conflicts`), so re-applying edited manifests always converges.
// Namespaces and CRDs go first; it then waits for those CRDs to be Established
// before applying the rest, so one call can install CRDs and their objects.
// Namespaced objects without a namespace go to "default". objs are not modified.
func ServerSideApply(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured, fieldManager string) error {
	if fieldManager == "" {
		return errors.New("ServerSideApply needs a field manager name")
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		// client-go's default of 5/s would make applying a few dozen objects slow.
		cfg.QPS, cfg.Burst = 50, 100
	}
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	a := &applier{
		dyn:          dyn,
		mapper:       restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco)),
		fieldManager: fieldManager,
	}

	first := func(u *unstructured.Unstructured) bool {
		gk := u.GroupVersionKind().GroupKind()
		return gk == crdGroupKind || gk == (schema.GroupKind{Kind: "Namespace"})
	}
	var crds []string
	for _, u := range objs {
		if !first(u) {
			continue
		}
		if err := a.apply(ctx, u); err != nil {
			return err
		}
		if u.GroupVersionKind().GroupKind() == crdGroupKind {
			crds = append(crds, u.GetName())
		}
	}
	if len(crds) > 0 {
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := WaitForCRDs(wctx, cfg, crds...)
		cancel()
		if err != nil {
			return err
		}
	}
	for _, u := range objs {
		if first(u) {
			continue
		}
		if err := a.apply(ctx, u); err != nil {
			return err
		}
	}
	return nil
}

type applier struct {
	dyn          dynamic.Interface
	mapper       *restmapper.DeferredDiscoveryRESTMapper
	fieldManager string
}

func (a *applier) apply(ctx context.Context, obj *unstructured.Unstructured) error {
	gvk := obj.GroupVersionKind()
	desc := strings.TrimPrefix(gvk.Group+"/", "/") + gvk.Kind + " " + obj.GetName()
	mapping, err := a.mapping(ctx, gvk)
	if err != nil {
		return fmt.Errorf("applying %s: %w", desc, err)
	}
	obj = obj.DeepCopy()
	var ri dynamic.ResourceInterface = a.dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() == "" {
			obj.SetNamespace(metav1.NamespaceDefault)
		}
		ri = a.dyn.Resource(mapping.Resource).Namespace(obj.GetNamespace())
		desc = obj.GetNamespace() + "/" + desc
	} else {
		obj.SetNamespace("") // cluster-scoped: a namespace here would be rejected
	}
	if _, err := ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: a.fieldManager, Force: true}); err != nil {
		return fmt.Errorf("applying %s: %w", desc, err)
	}
	return nil
}

// mapping resolves a kind to its resource, refreshing discovery on a miss:
// the kind may belong to a CRD created moments ago.
func (a *applier) mapping(ctx context.Context, gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	ctx, cancel := context.WithTimeout(ctx, mappingTimeout)
	defer cancel()
	for {
		m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err == nil {
			return m, nil
		}
		if !meta.IsNoMatchError(err) {
			return nil, err
		}
		a.mapper.Reset()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the API server serves no kind %s in %s (is its CRD installed?)", gvk.Kind, gvk.GroupVersion())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// WaitForCRDs waits until the named CustomResourceDefinitions are Established,
// that is, the API server serves their resources.
func WaitForCRDs(ctx context.Context, cfg *rest.Config, names ...string) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	pending := slices.Clone(names)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var still []string
		for _, name := range pending {
			crd, err := dyn.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("waiting for CRD %s: %w", name, err)
			}
			if err != nil {
				still = append(still, name)
				continue
			}
			ok, rejected := crdStatus(crd)
			if rejected != "" {
				return fmt.Errorf("CRD %s will not be established: %s", name, rejected)
			}
			if !ok {
				still = append(still, name)
			}
		}
		pending = still
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRDs not established: %s: %w", strings.Join(pending, ", "), ctx.Err())
		case <-tick.C:
		}
	}
}

// crdStatus reports whether the CRD is Established, or why its names were
// rejected (a conflict with another CRD), which no amount of waiting fixes.
func crdStatus(crd *unstructured.Unstructured) (established bool, rejected string) {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok {
			continue
		}
		switch {
		case m["type"] == "Established" && m["status"] == "True":
			established = true
		case m["type"] == "NamesAccepted" && m["status"] == "False":
			rejected = fmt.Sprint(m["message"])
		}
	}
	return established, rejected
}
