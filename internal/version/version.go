// Package version holds the operator's version, stamped at build time.
package version

// Version is set with -ldflags "-X github.com/finx-operator/finx-operator/internal/version.Version=…".
var Version = "dev"

// UserAgent is what the operator sends to finX.
func UserAgent() string { return "finx-operator/" + Version }
