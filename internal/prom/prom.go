// Package prom holds what the components that export Prometheus metrics
// share: registering a collector once per registry. Each component declares
// and counts its own series; this package declares none and keeps no state.
package prom

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c on reg, or returns the collector registered before
// it under the same description, so that two servers of one kind on one
// registry (tests, or a restart of a listener) share their series. An error
// is a programming error: the same name with other labels or help.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}
