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
	"fmt"
	"hash/fnv"
	"strconv"
)

// Identifiers are derived from the user id, bank and account slot so the same
// user sees the same accounts in every sandbox process.

func hash64(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		_, _ = h.Write([]byte(p))
		_, _ = h.Write([]byte{0})
	}
	return mix64(h.Sum64())
}

// mix64 is the splitmix64 finaliser; FNV alone has weak high bits for short inputs.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// digits18 renders a hash as 18 digits with no leading zero, like finX ids.
func digits18(h uint64) string {
	return strconv.FormatUint(100000000000000000+h%900000000000000000, 10)
}

func accountID(userID string, b *bank, i int) string {
	return "A" + digits18(hash64("account", userID, b.name, strconv.Itoa(i))) + ".1"
}

func accessID(userID string, b *bank) string {
	return "X" + digits18(hash64("access", userID, b.name)) + ".1"
}

func accountNumber(userID string, b *bank, i int) string {
	return fmt.Sprintf("%010d", hash64("number", userID, b.name, strconv.Itoa(i))%10000000000)
}

// germanIBAN builds a DE IBAN with valid ISO 7064 check digits.
func germanIBAN(bankCode, account string) string {
	bban := bankCode + account
	// "DE00" moved to the end, letters as numbers: D=13, E=14.
	rem := 0
	for _, c := range bban + "131400" {
		rem = (rem*10 + int(c-'0')) % 97
	}
	return fmt.Sprintf("DE%02d%s", 98-rem, bban)
}

var owners = []string{
	"Max Mustermann", "Erika Mustermann", "Jonas Beispiel", "Lena Probe",
	"Ana García", "Luís Silva", "Ioana Popescu", "Claire Dubois",
}

func ownerName(userID string) string {
	return owners[hash64("owner", userID)%uint64(len(owners))]
}
