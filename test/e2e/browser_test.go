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

package e2e_test

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	v1 "github.com/finx-operator/finx-operator/api/v1alpha1"
)

// findChromium returns the browser to drive, or "" if there is none.
func findChromium() string {
	if st, err := os.Stat("/usr/bin/chromium"); err == nil && !st.IsDir() {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Scenario 6: a person in a real (headless) browser: open the link, pick the bank, log in, approve,
// land on the callback's result page.
func browserScenario(ctx SpecContext) {
	browser := findChromium()
	if browser == "" {
		msg := "e2e: the browser scenario was SKIPPED because Chromium was not found " +
			"(looked for /usr/bin/chromium, then chromium, chromium-browser and google-chrome in PATH); " +
			"install it with `apt-get install chromium` to run it"
		fmt.Println(msg)
		// `go test ./...` shows nothing of a passing package without -v, so CI can insist.
		if os.Getenv("E2E_REQUIRE_BROWSER") != "" {
			Fail(msg + " (E2E_REQUIRE_BROWSER is set)")
		}
		Skip(msg)
	}

	const ns = "e2e-browser"
	newTenant(ctx, ns)
	key := newConnection(ctx, ns, "grace", callbackA)
	b := waitFor(ctx, key, 30*time.Second, "a widget link", hasLink)

	By("starting headless Chromium (" + browser + ")")
	profile, err := os.MkdirTemp(workDir, "chromium-profile-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { _ = os.RemoveAll(profile) })
	browserLog, err := os.Create(filepath.Join(workDir, "logs", "chromium.log"))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(browserLog.Close)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(browser),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.CombinedOutput(browserLog),
	)
	DeferCleanup(cancelAlloc) // ends the browser and waits for it
	tab, cancelTab := chromedp.NewContext(allocCtx)
	DeferCleanup(cancelTab)

	By("opening status.link.url and going through the widget")
	Expect(chromedp.Do(tab,
		chromedp.Navigate(b.Status.Link.URL),
		chromedp.WaitVisible(chromedp.ID("page-bank")),
		chromedp.SetValue(chromedp.ID("bank-select"), "Mockbank"),
		chromedp.Click(chromedp.ID("bank-submit")),

		chromedp.WaitVisible(chromedp.ID("page-login")),
		chromedp.Clear(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "figo01"),
		chromedp.SendKeys(chromedp.ID("password"), "654321"),
		chromedp.Click(chromedp.ID("login-submit")),

		chromedp.WaitVisible(chromedp.ID("page-accounts")),
		chromedp.WaitEnabled(chromedp.ID("approve")),
		chromedp.Click(chromedp.ID("approve")),

		chromedp.WaitVisible(chromedp.ID("callback-title")),
	)).To(Succeed())

	By("checking the callback's result page")
	location, err := chromedp.Run(tab, chromedp.Location())
	Expect(err).NotTo(HaveOccurred())
	u, err := url.Parse(location)
	Expect(err).NotTo(HaveOccurred())
	Expect(u.Host).To(Equal(callbackA), "the browser ends on the operator's callback endpoint")
	Expect(u.Path).To(Equal("/callback"))
	title, err := chromedp.Run(tab, chromedp.Title())
	Expect(err).NotTo(HaveOccurred())
	Expect(title).To(Equal("Bank connected"))
	heading, err := chromedp.Run(tab, chromedp.Text(chromedp.ID("callback-title")))
	Expect(err).NotTo(HaveOccurred())
	Expect(heading).To(Equal("Bank connected"))
	message, err := chromedp.Run(tab, chromedp.Text(chromedp.ID("callback-message")))
	Expect(err).NotTo(HaveOccurred())
	Expect(message).To(ContainSubstring("authorised"))

	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	Expect(err).NotTo(HaveOccurred())
	shot := filepath.Join(workDir, "screenshots", "browser-callback-result.png")
	Expect(os.MkdirAll(filepath.Dir(shot), 0o755)).To(Succeed())
	Expect(os.WriteFile(shot, png, 0o644)).To(Succeed())
	AddReportEntry("screenshot", shot)

	By("waiting for phase Connected")
	b = waitFor(ctx, key, 30*time.Second, "phase Connected", isConnected)
	Expect(b.Status.Phase).To(Equal(v1.PhaseConnected))
	expectOwnedSecrets(ctx, b)
	expectNoForbidden(primaryReplica)
}
