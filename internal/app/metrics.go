package app

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"diwan.gov.sy/diwan/internal/workflow"
)

// workflowMetrics is the workflow engine's Observer: it counts committed
// transitions and registrations for /metrics.
//
//	diwan_workflow_transitions_total{action}
//	diwan_workflow_registered_total{direction}
//
// action is one of the engine's actions (it refuses any other before it
// commits), direction outgoing or incoming, so the series stay few.
type workflowMetrics struct {
	transitions *prometheus.CounterVec
	registered  *prometheus.CounterVec
}

func newWorkflowMetrics(reg prometheus.Registerer) (*workflowMetrics, error) {
	m := &workflowMetrics{
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "diwan", Subsystem: "workflow", Name: "transitions_total",
			Help: "Transitions users made on registry entries and referrals (committed), by action.",
		}, []string{"action"}),
		registered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "diwan", Subsystem: "workflow", Name: "registered_total",
			Help: "Letters given a register number (committed), by direction (outgoing, incoming).",
		}, []string{"direction"}),
	}
	for _, c := range []prometheus.Collector{m.transitions, m.registered} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("workflow metrics: %w", err)
		}
	}
	// Both directions from the start, at zero.
	m.registered.WithLabelValues(string(workflow.Outgoing))
	m.registered.WithLabelValues(string(workflow.Incoming))
	return m, nil
}

func (m *workflowMetrics) Transition(a workflow.Action) {
	m.transitions.WithLabelValues(string(a)).Inc()
}

func (m *workflowMetrics) Registered(d workflow.Direction) {
	m.registered.WithLabelValues(string(d)).Inc()
}
