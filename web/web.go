// Package web holds what the browser UI is made of — templates, static
// assets and the locale files (Arabic first, English second) — embedded in
// the binary. It holds files only: no handlers (those are in internal/httpd).
//
// templates/layout.html is the frame of every page (head, navigation,
// footer); every other templates/*.html is one page and defines the
// templates "title" and "content" that the layout calls. static/ is
// served under /static/ (one stylesheet, a little script; nothing is
// loaded from another host).
package web

import "embed"

// Locales holds locales/<lang>.json: message ID → text.
//
//go:embed locales/*.json
var Locales embed.FS

// Templates holds templates/*.html.
//
//go:embed templates/*.html
var Templates embed.FS

// Static holds static/*: the stylesheet, the script and the icons.
//
//go:embed static
var Static embed.FS

// Languages are the UI languages, the default first.
var Languages = []string{"ar", "en"}
