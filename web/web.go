// Package web holds what the browser UI is made of — templates, static
// assets and the locale files (Arabic first, English second) — embedded in
// the binary. It holds files only: no handlers (those are in internal/httpd).
package web

import "embed"

// Locales holds locales/<lang>.json: message ID → text.
//
//go:embed locales/*.json
var Locales embed.FS

// Languages are the UI languages, the default first.
var Languages = []string{"ar", "en"}
