package workflow

import (
	"fmt"
	"time"
)

// Working days are counted in time_zone (Service.loc); weekend days and
// holidays come from workflow.weekend and workflow.holidays.

// maxCalendarScan bounds the search for working days (a configuration
// that makes every day a holiday must not loop for ever).
const maxCalendarScan = 3660

// today is the calendar date of t in time_zone, at midnight there.
func (s *Service) today(t time.Time) time.Time {
	y, m, d := t.In(s.loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, s.loc)
}

// addWorkingDays returns the date n working days after the date of t; for
// n = 0, that date if it is a working day, else the next working day.
func (s *Service) addWorkingDays(t time.Time, n int) time.Time {
	d := s.today(t)
	if n <= 0 {
		for i := 0; i < maxCalendarScan && !s.cfg.IsWorkingDay(d); i++ {
			d = d.AddDate(0, 0, 1)
		}
		return d
	}
	for i, left := 0, n; left > 0 && i < maxCalendarScan; i++ {
		d = d.AddDate(0, 0, 1)
		if s.cfg.IsWorkingDay(d) {
			left--
		}
	}
	return d
}

func (s *Service) defaultDueDate(p Priority, t time.Time) string {
	n := s.cfg.Deadlines.Normal
	switch p {
	case PriorityUrgent:
		n = s.cfg.Deadlines.Urgent
	case PriorityImmediate:
		n = s.cfg.Deadlines.Immediate
	}
	return s.addWorkingDays(t, n).Format(time.DateOnly)
}

// checkDueDate checks a due date given for a letter or a referral (field
// names it): a working day, today or later, within workflow.due_date_horizon
// of today, all in time_zone. "" (none given) passes.
func (s *Service) checkDueDate(field, due string) error {
	if due == "" {
		return nil
	}
	d, err := time.ParseInLocation(time.DateOnly, due, s.loc)
	if err != nil {
		return inputErr(field, fmt.Sprintf("%s is not a date in the form YYYY-MM-DD", show(due)))
	}
	today := s.today(s.now())
	if d.Before(today) {
		return inputErr(field, fmt.Sprintf("%s is in the past; a due date is today (%s) or later", due, today.Format(time.DateOnly)))
	}
	if h := s.cfg.DueDateHorizon.Duration(); h > 0 {
		last := today.AddDate(0, 0, int(h/(24*time.Hour)))
		if d.After(last) {
			return inputErr(field, fmt.Sprintf("%s is beyond the horizon of due dates (%s); give a date up to %s",
				due, s.cfg.DueDateHorizon, last.Format(time.DateOnly)))
		}
	}
	if !s.cfg.IsWorkingDay(d) {
		return inputErr(field, fmt.Sprintf("%s is a weekend day or a holiday; a due date is a working day", due))
	}
	return nil
}
