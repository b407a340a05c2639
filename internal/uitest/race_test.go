//go:build race

package uitest

// raceEnabled: the tests run with the race detector, and so does the
// diwan program they build.
const raceEnabled = true
