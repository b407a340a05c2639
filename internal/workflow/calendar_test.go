package workflow_test

import (
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/workflow"
)

// Default due dates count working days in time_zone: Fridays, Saturdays
// and holidays do not count.
func TestDefaultDueDatesCountWorkingDays(t *testing.T) {
	cfg := defaultWorkflowConfig()
	cfg.Holidays = []string{"2026-03-05"} // a Thursday
	wf := workflow.New(nil, nil, workflow.Options{Workflow: cfg, Location: damascus})
	for _, c := range []struct {
		at   time.Time
		p    workflow.Priority
		want string
	}{
		// Monday 2 March, normal (10 days): 3,4,(5 holiday),(6,7 weekend),8,9,10,11,12,(13,14),15,16,17.
		{time.Date(2026, 3, 2, 9, 0, 0, 0, damascus), workflow.PriorityNormal, "2026-03-17"},
		// Urgent (3 days) from Wednesday 4 March: (5 holiday), (6, 7), 8, 9, 10.
		{time.Date(2026, 3, 4, 9, 0, 0, 0, damascus), workflow.PriorityUrgent, "2026-03-10"},
		// Immediate (1 day) on Thursday 26 March: Sunday 29.
		{time.Date(2026, 3, 26, 23, 30, 0, 0, damascus), workflow.PriorityImmediate, "2026-03-29"},
		// 22:30 UTC on Thursday 26 March is already Friday 27 in Damascus.
		{time.Date(2026, 3, 26, 22, 30, 0, 0, time.UTC), workflow.PriorityImmediate, "2026-03-29"},
		// 20:30 UTC is still Thursday there.
		{time.Date(2026, 3, 26, 20, 30, 0, 0, time.UTC), workflow.PriorityImmediate, "2026-03-29"},
		{time.Date(2026, 3, 25, 20, 30, 0, 0, time.UTC), workflow.PriorityImmediate, "2026-03-26"},
	} {
		if got := wf.DefaultDueDate(c.p, c.at); got != c.want {
			t.Errorf("%s at %v: %s, want %s", c.p, c.at, got, c.want)
		}
	}
	cfg.Deadlines.Immediate = 0
	wf = workflow.New(nil, nil, workflow.Options{Workflow: cfg, Location: damascus})
	if got := wf.DefaultDueDate(workflow.PriorityImmediate, time.Date(2026, 3, 27, 9, 0, 0, 0, damascus)); got != "2026-03-29" {
		t.Errorf("0 days on a Friday: %s, want the next working day 2026-03-29", got)
	}
}

// Today is the date in time_zone: 22:30 UTC on 26 March is already 27
// March in Damascus.
func TestTodayIsTheDateInTheTimeZone(t *testing.T) {
	at := time.Date(2026, 3, 26, 22, 30, 0, 0, time.UTC)
	wf := workflow.New(nil, nil, workflow.Options{Workflow: defaultWorkflowConfig(), Location: damascus,
		Now: func() time.Time { return at }})
	if got := wf.Today(); got != "2026-03-27" {
		t.Errorf("Today at %v: %s, want 2026-03-27", at, got)
	}
	wf = workflow.New(nil, nil, workflow.Options{Workflow: defaultWorkflowConfig(), Location: time.UTC,
		Now: func() time.Time { return at }})
	if got := wf.Today(); got != "2026-03-26" {
		t.Errorf("Today in UTC: %s, want 2026-03-26", got)
	}
}
