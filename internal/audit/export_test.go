package audit

import "time"

// SetLinkerForTest changes how often Run links and how many events one
// link transaction takes.
func SetLinkerForTest(l *Log, interval time.Duration, batch int) {
	l.interval = interval
	l.batch = batch
}

// RunPassesForTest is how many linking passes Run has finished.
func RunPassesForTest(l *Log) int64 { return l.passes.Load() }
