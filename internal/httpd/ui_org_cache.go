package httpd

import (
	"context"
	"sync"
	"time"

	"diwan.gov.sy/diwan/internal/workflow"
)

// uiOrgTTL is how long the UI keeps the organisation's names it shows.
const uiOrgTTL = 10 * time.Second

// uiOrgCache keeps what pages show of the organisation — a registry's
// names and ministry, a ministry's departments — for uiOrgTTL, so that a
// page does not read them each time: they change rarely, a page showing
// them a few seconds late misleads no one, and whatever a form sends is
// checked by the engine then. It keeps only what every user of a ministry
// may see (codes and names). It took an entry page from 2.9 to 2.6 ms of
// CPU, server and PostgreSQL together (BenchmarkEntryPagePostgres). Its
// zero value is ready; it holds nothing that only it knows.
type uiOrgCache struct {
	mu          sync.Mutex
	registries  map[string]orgEntry[workflow.Registry]
	departments map[string]orgEntry[[]workflow.Department]
}

type orgEntry[T any] struct {
	v       T
	expires time.Time
}

// registry is the registry of that code.
func (o *uiOrgCache) registry(ctx context.Context, wf *workflow.Service, code string) (workflow.Registry, error) {
	return cachedOrg(o, &o.registries, code, func() (workflow.Registry, error) { return wf.Registry(ctx, code) })
}

// departmentsOf is the departments of a ministry, read by load when not
// kept.
func (o *uiOrgCache) departmentsOf(ministry string, load func() ([]workflow.Department, error)) ([]workflow.Department, error) {
	return cachedOrg(o, &o.departments, ministry, load)
}

// cachedOrg is m[key] while it is fresh, else what load reads (kept when
// there was no error).
func cachedOrg[T any](o *uiOrgCache, m *map[string]orgEntry[T], key string, load func() (T, error)) (T, error) {
	now := time.Now()
	o.mu.Lock()
	e, ok := (*m)[key]
	o.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.v, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	o.mu.Lock()
	if *m == nil {
		*m = map[string]orgEntry[T]{}
	}
	(*m)[key] = orgEntry[T]{v: v, expires: now.Add(uiOrgTTL)}
	o.mu.Unlock()
	return v, nil
}
