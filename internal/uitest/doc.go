// Package uitest drives the real web UI in a real browser: it builds the
// diwan program, runs `diwan serve` on a fresh SQLite data directory with an
// organisation set up through `diwan admin`, and walks registry clerks and
// staff through a letter's life in headless Chromium (chromedp). Every page
// it visits is checked by the accessibility engine axe-core in Arabic and in
// English, and photographed for the test's artefacts: full-page PNGs in
// $DIWAN_ARTIFACTS, else bin/artifacts/ui under the module's root (ignored
// by git with the rest of bin/).
//
// The time from a click on "register" to the registered entry's page
// painted, as Chromium measures it, is logged by the scenario and measured
// by BenchmarkRegisterClickToPaint:
//
//	go test -run '^$' -bench RegisterClickToPaint -benchtime 20x ./internal/uitest/
//
// The package holds tests only. Without Chromium or axe-core its tests skip,
// except under CI=true, where a missing piece is a failure (.ci/run installs
// both and names axe-core's file in AXE_CORE_JS).
package uitest
