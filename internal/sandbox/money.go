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

import (
	"errors"
	"strconv"
	"strings"
)

// money is an amount in cents, encoded as a JSON number with two decimals
// (finX sends amounts as numbers, e.g. 1367.39).
type money int64

func (m money) MarshalJSON() ([]byte, error) {
	v := int64(m)
	var b []byte
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	b = strconv.AppendInt(b, v/100, 10)
	b = append(b, '.')
	if c := v % 100; c < 10 {
		b = append(b, '0', byte('0'+c))
	} else {
		b = strconv.AppendInt(b, c, 10)
	}
	return b, nil
}

// UnmarshalJSON reads what MarshalJSON writes (at most two decimals); tests
// and tools decode sandbox responses with the same types.
func (m *money) UnmarshalJSON(b []byte) error {
	s := string(b)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 2 || whole == "" || !allDigits(whole) || !allDigits(frac) {
		return errors.New("sandbox: amount must have at most two decimals")
	}
	frac += "00"[len(frac):]
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return err
	}
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil || w > (1<<62)/100 {
		return errors.New("sandbox: amount out of range")
	}
	v := w*100 + f
	if neg {
		v = -v
	}
	*m = money(v)
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
