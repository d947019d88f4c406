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

package controllers_test

import (
	"context"
	"fmt"
	"os"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

// The health checks the project ships, evaluated the way their consumers evaluate them: kstatus by
// its own library, the Argo CD Lua by a Lua interpreter with `obj` bound to the object, the Flux
// expressions by cel-go with the object's top-level fields as variables.

const (
	argoHealthFile = "../config/argocd/health.lua"
	fluxExprsFile  = "../config/flux/healthcheckexprs.yaml"
)

// health is how each tool reads one object, as read from the API server.
type health struct {
	kstatus      status.Status
	kstatusMsg   string
	argo         string
	argoMessage  string
	flux         status.Status
	phase        v1.Phase
	stalled      string // reason of Stalled=True, if any
	reconciling  string // reason of Reconciling=True, if any
	generation   int64
	observedGen  int64
	conditionGen map[string]int64
}

func (h health) String() string {
	return fmt.Sprintf("phase=%s kstatus=%s (%s) argo=%s (%s) flux=%s stalled=%q reconciling=%q",
		h.phase, h.kstatus, h.kstatusMsg, h.argo, h.argoMessage, h.flux, h.stalled, h.reconciling)
}

// readObject reads a connection as an unstructured object, as GitOps tools see it.
func readObject(key client.ObjectKey) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(v1.GroupVersion.WithKind("BankConnection"))
	return u, k8sClient.Get(ctx, key, u)
}

func healthOf(u *unstructured.Unstructured) health {
	res, err := status.Compute(u)
	Expect(err).NotTo(HaveOccurred())
	h := health{kstatus: res.Status, kstatusMsg: res.Message, generation: u.GetGeneration(), conditionGen: map[string]int64{}}
	h.argo, h.argoMessage = argoHealth(u.Object)
	h.flux = fluxHealth(u)
	p, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	h.phase = v1.Phase(p)
	h.observedGen, _, _ = unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, raw := range conds {
		c, _ := raw.(map[string]any)
		typ, _ := c["type"].(string)
		g, _, _ := unstructured.NestedInt64(c, "observedGeneration")
		h.conditionGen[typ] = g
		if c["status"] != "True" {
			continue
		}
		reason, _ := c["reason"].(string)
		switch typ {
		case v1.ConditionStalled:
			h.stalled = reason
		case v1.ConditionReconciling:
			h.reconciling = reason
		}
	}
	return h
}

// argoHealth runs the shipped health.lua like Argo CD does: the script body with a global obj.
func argoHealth(obj map[string]any) (string, string) {
	script, err := os.ReadFile(argoHealthFile)
	Expect(err).NotTo(HaveOccurred())
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	Expect(L.DoString(string(script))).To(Succeed())
	ret, ok := L.Get(-1).(*lua.LTable)
	Expect(ok).To(BeTrue(), "health.lua must return a table")
	return ret.RawGetString("status").String(), ret.RawGetString("message").String()
}

// toLua converts decoded JSON into Lua values: objects into tables, arrays into 1-based tables.
func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case string:
		return lua.LString(x)
	case int64:
		return lua.LNumber(x)
	case float64:
		return lua.LNumber(x)
	case map[string]any:
		t := L.NewTable()
		for k, e := range x {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, e := range x {
			t.Append(toLua(L, e))
		}
		return t
	}
	Fail(fmt.Sprintf("unexpected JSON value %T", v))
	return lua.LNil
}

// fluxExprs are the expressions of the shipped Kustomization example.
type fluxExprs struct {
	Spec struct {
		HealthCheckExprs []struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			InProgress string `json:"inProgress"`
			Failed     string `json:"failed"`
			Current    string `json:"current"`
		} `json:"healthCheckExprs"`
	} `json:"spec"`
}

// fluxHealth evaluates the shipped expressions in Flux's order: an unobserved generation is
// InProgress; then inProgress, failed and current, the first true one wins; otherwise InProgress.
// The CEL environment has the options Flux parses health expressions with (optional types, the
// strings, sets and encoders extensions), and the object's top-level fields are the variables.
func fluxHealth(u *unstructured.Unstructured) status.Status {
	raw, err := os.ReadFile(fluxExprsFile)
	Expect(err).NotTo(HaveOccurred())
	var k fluxExprs
	Expect(yaml.Unmarshal(raw, &k)).To(Succeed())
	Expect(k.Spec.HealthCheckExprs).To(HaveLen(1))
	e := k.Spec.HealthCheckExprs[0]
	Expect(e.APIVersion).To(Equal(v1.GroupVersion.String()))
	Expect(e.Kind).To(Equal("BankConnection"))

	if og, found, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration"); found && og != u.GetGeneration() {
		return status.InProgressStatus
	}
	env, err := cel.NewEnv(cel.HomogeneousAggregateLiterals(), cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true), cel.CrossTypeNumericComparisons(true), cel.OptionalTypes(),
		ext.Strings(), ext.Sets(), ext.Encoders())
	Expect(err).NotTo(HaveOccurred())
	for _, step := range []struct {
		expr string
		want status.Status
	}{{e.InProgress, status.InProgressStatus}, {e.Failed, status.FailedStatus}, {e.Current, status.CurrentStatus}} {
		if step.expr == "" {
			continue
		}
		ast, iss := env.Parse(step.expr)
		Expect(iss.Err()).NotTo(HaveOccurred(), step.expr)
		prg, err := env.Program(ast)
		Expect(err).NotTo(HaveOccurred())
		out, _, err := prg.ContextEval(context.Background(), u.Object)
		Expect(err).NotTo(HaveOccurred(), "Flux would wait out its timeout on an evaluation error: %s", step.expr)
		b, ok := out.(types.Bool)
		Expect(ok).To(BeTrue(), "not a boolean: %s", step.expr)
		if b {
			return step.want
		}
	}
	return status.InProgressStatus
}
