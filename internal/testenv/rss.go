package testenv

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// PeakRSSGrowth runs fn and returns how far the peak resident set size
// (VmHWM) rose above the resident size before it, in bytes. The peak is
// reset first through /proc/self/clear_refs, so earlier peaks do not hide
// this one. Without /proc (not Linux) the test or benchmark is skipped.
func PeakRSSGrowth(tb testing.TB, fn func()) int64 {
	tb.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		tb.Skipf("cannot reset the peak RSS: %v", err)
	}
	before := procStatus(tb, "VmRSS")
	fn()
	return procStatus(tb, "VmHWM") - before
}

// procStatus returns a /proc/self/status field in bytes.
func procStatus(tb testing.TB, field string) int64 {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			tb.Fatalf("/proc/self/status %s: %v", field, err)
		}
		return kb << 10
	}
	tb.Fatalf("no %s in /proc/self/status", field)
	return 0
}
