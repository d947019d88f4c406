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

package callback

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestHandlerCountsAnswers(t *testing.T) {
	f := &fakeHandoff{err: errors.New("API server unreachable")}
	h, _ := newTestHandler(f)
	bad := requests.WithLabelValues("400", "bad-request")
	unavailable := requests.WithLabelValues("503", "unavailable")
	badBefore, unavailableBefore := testutil.ToFloat64(bad), testutil.ToFloat64(unavailable)

	get(h, "")
	get(h, "code=c0de&state=st4te&success=true")

	if d := testutil.ToFloat64(bad) - badBefore; d != 1 {
		t.Errorf("bad requests counted %v times, want 1", d)
	}
	if d := testutil.ToFloat64(unavailable) - unavailableBefore; d != 1 {
		t.Errorf("failed hand-offs counted %v times, want 1", d)
	}
}
