package delivery

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the queue's series on /metrics:
//
//	diwan_delivery_queue_length            entries pending
//	diwan_delivery_queue_oldest_seconds    age of the oldest pending entry
//	diwan_delivery_deliveries_total{result,domain}  outcomes of attempts:
//	    sent, retry, bounced, dropped; domain is the destination (national
//	    domains only, so the series stay few)
//	diwan_delivery_bounces_total           bounces put into senders' INBOXes
type metrics struct {
	e          *engine
	deliveries *prometheus.CounterVec
	bounces    prometheus.Counter
	length     *prometheus.Desc
	oldest     *prometheus.Desc
}

func newMetrics(reg prometheus.Registerer, e *engine) (*metrics, error) {
	m := &metrics{
		e: e,
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "diwan", Subsystem: "delivery", Name: "deliveries_total",
			Help: "Outcomes of delivery attempts per recipient, by result (sent, retry, bounced, dropped) and destination domain.",
		}, []string{"result", "domain"}),
		bounces: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "diwan", Subsystem: "delivery", Name: "bounces_total",
			Help: "Bounces (delivery status notifications of failure) put into senders' INBOXes.",
		}),
		length: prometheus.NewDesc("diwan_delivery_queue_length",
			"Recipients in the outbound queue waiting to be sent (pending).", nil, nil),
		oldest: prometheus.NewDesc("diwan_delivery_queue_oldest_seconds",
			"Age of the oldest pending recipient of the outbound queue, in seconds (0 when empty).", nil, nil),
	}
	for _, c := range []prometheus.Collector{m.deliveries, m.bounces, m} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("delivery metrics: %w", err)
		}
	}
	return m, nil
}

// result is the metric's name of an outcome's state.
func result(state string) string {
	switch state {
	case StateSent:
		return "sent"
	case StateFailed:
		return "bounced"
	}
	return "retry"
}

func (m *metrics) count(state, domain string) {
	m.deliveries.WithLabelValues(result(state), domain).Inc()
}

// Describe and Collect make the queue's length and age a collector that
// asks the database at each scrape.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.length
	ch <- m.oldest
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, oldest, err := m.e.pendingStats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(m.length, err)
		return
	}
	age := 0.0
	if n > 0 {
		age = max(m.e.now().Sub(oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(m.length, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(m.oldest, prometheus.GaugeValue, age)
}

// pendingStats counts the pending entries and finds the oldest one's
// arrival (index relay_queue_state_created).
func (e *engine) pendingStats(ctx context.Context) (int64, time.Time, error) {
	var n int64
	g := e.db.Reader().WithContext(ctx)
	if err := g.Model(&relayRow{}).Where("state = ?", StatePending).Count(&n).Error; err != nil {
		return 0, time.Time{}, err
	}
	if n == 0 {
		return 0, time.Time{}, nil
	}
	var rows []relayRow
	if err := g.Select("id, created_at").Where("state = ?", StatePending).Order("created_at").Limit(1).Find(&rows).Error; err != nil {
		return 0, time.Time{}, err
	}
	if len(rows) == 0 {
		return 0, time.Time{}, nil
	}
	return n, rows[0].CreatedAt, nil
}
