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
	"context"
	"encoding/json"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// patchStatus writes conn's status over from's and sets conn's resourceVersion to the one written.
// The API server answers with the connection's metadata only: the status written is conn's (the
// patch applies to from's status, the precondition guarantees it), so decoding the whole object
// back, on every write, would cost the manager and the API server and tell nothing new.
func patchStatus(ctx context.Context, w client.SubResourceWriter, from, conn *v1.BankConnection) error {
	data, err := statusPatch{from: from}.Data(conn)
	if err != nil {
		return err
	}
	written := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: conn.Namespace, Name: conn.Name}}
	written.SetGroupVersionKind(v1.GroupVersion.WithKind("BankConnection"))
	if err := w.Patch(ctx, written, client.RawPatch(types.MergePatchType, data)); err != nil {
		return err
	}
	conn.ResourceVersion = written.ResourceVersion
	return nil
}
