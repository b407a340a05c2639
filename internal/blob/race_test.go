//go:build race

package blob_test

const raceEnabled = true
