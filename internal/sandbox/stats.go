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

package sandbox

// Stats counts calls per endpoint. Token calls are counted under "token" and
// again under "token/<grant_type>" so tests can tell refreshes from exchanges.
type Stats struct {
	Endpoints map[string]EndpointStats `json:"endpoints"`
}

// EndpointStats is the outcome breakdown for one endpoint.
type EndpointStats struct {
	Calls int `json:"calls"`
	// ByStatus counts responses by HTTP status, injected faults included.
	ByStatus map[int]int `json:"by_status"`
	// Faulted counts responses whose status came from an injected fault.
	Faulted int `json:"faulted"`
	// Dropped counts connections closed without a response (DropAfterRotation).
	Dropped int `json:"dropped"`
}

// Stats returns a snapshot.
func (s *Server) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	out := Stats{Endpoints: make(map[string]EndpointStats, len(s.stats))}
	for name, e := range s.stats {
		c := *e
		c.ByStatus = make(map[int]int, len(e.ByStatus))
		for k, v := range e.ByStatus {
			c.ByStatus[k] = v
		}
		out.Endpoints[name] = c
	}
	return out
}

func (s *Server) record(endpoint, grant string, status int, faulted, dropped bool) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	s.recordLocked(endpoint, status, faulted, dropped)
	if endpoint == EndpointToken && knownGrant(grant) {
		s.recordLocked(endpoint+"/"+grant, status, faulted, dropped)
	}
}

func (s *Server) recordLocked(name string, status int, faulted, dropped bool) {
	e := s.stats[name]
	if e == nil {
		e = &EndpointStats{ByStatus: map[int]int{}}
		s.stats[name] = e
	}
	e.Calls++
	if dropped {
		e.Dropped++
		return
	}
	e.ByStatus[status]++
	if faulted {
		e.Faulted++
	}
}

func knownGrant(g string) bool {
	return g == grantAuthorizationCode || g == grantRefreshToken || g == grantPassword
}
