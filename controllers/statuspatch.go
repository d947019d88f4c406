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

package controllers

import (
	"encoding/json"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

// statusPatch is the merge patch of a connection's status subresource: what changed in the status
// since from, with from's resourceVersion as the precondition. It is what client.MergeFrom with
// an optimistic lock sends to the status subresource, built without copying and marshalling the
// metadata and the spec twice on every status write (the API server ignores both there).
type statusPatch struct{ from *v1.BankConnection }

var _ client.Patch = statusPatch{}

func (statusPatch) Type() types.PatchType { return types.MergePatchType }

func (p statusPatch) Data(obj client.Object) ([]byte, error) {
	c, ok := obj.(*v1.BankConnection)
	if !ok {
		return nil, fmt.Errorf("a BankConnection status patch cannot apply to a %T", obj)
	}
	rv := p.from.ResourceVersion
	if rv == "" {
		// Without the precondition a status computed from a stale copy could land.
		return nil, fmt.Errorf("no resourceVersion to write the status of %s/%s against", c.Namespace, c.Name)
	}
	before, err := json.Marshal(&p.from.Status)
	if err != nil {
		return nil, err
	}
	after, err := json.Marshal(&c.Status)
	if err != nil {
		return nil, err
	}
	diff, err := jsonpatch.CreateMergePatch(before, after)
	if err != nil {
		return nil, err
	}
	type meta struct {
		ResourceVersion string `json:"resourceVersion"`
	}
	return json.Marshal(struct {
		Metadata meta            `json:"metadata"`
		Status   json.RawMessage `json:"status"`
	}{meta{rv}, diff})
}
