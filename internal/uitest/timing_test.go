package uitest

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// navTiming is what Chromium measured of a click that loads a new page,
// in milliseconds.
type navTiming struct {
	ClickToPaint float64 // the click to the new page's first contentful paint
	ClickToLoad  float64 // the click to the end of the new page's load event
	Server       float64 // the navigation's start to the page's first byte (a redirect included)
	Painted      bool    // false: no paint entry came, ClickToPaint is ClickToLoad
}

func (n navTiming) String() string {
	what := "first contentful paint"
	if !n.Painted {
		what = "load event end, no paint entry"
	}
	return fmt.Sprintf("%.1f ms to the new page painted (%s), %.1f ms to its load event end, %.1f ms of it waiting for the server",
		n.ClickToPaint, what, n.ClickToLoad, n.Server)
}

// pageTimes reads the navigation and paint timing of the page shown, as
// absolute times (ms since the epoch) where it says so.
const pageTimes = `new Promise(resolve => {
  const nav = performance.getEntriesByType('navigation')[0];
  const answer = paint => requestAnimationFrame(() => resolve({
    paint: paint === null ? -1 : performance.timeOrigin + paint,
    load: performance.timeOrigin + nav.loadEventEnd,
    server: nav.responseStart,
  }));
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  if (fcp) { answer(fcp.startTime); return; }
  const po = new PerformanceObserver(list => {
    const e = list.getEntriesByName('first-contentful-paint')[0];
    if (e) { po.disconnect(); answer(e.startTime); }
  });
  po.observe({type: 'paint', buffered: true});
  setTimeout(() => { po.disconnect(); answer(null); }, 2000);
})`

// clickTimed clicks a button that loads a new page and measures, with
// Chromium's clock, the time from the click to the new page painted. It
// returns the status of the new page and the times.
func (b *tab) clickTimed(button string) (int64, navTiming) {
	b.t.Helper()
	clicked := mustEval[float64](b, `performance.timeOrigin + performance.now()`)
	status := b.submit(button)
	got := mustEval[struct{ Paint, Load, Server float64 }](b, pageTimes)
	n := navTiming{ClickToLoad: got.Load - clicked, Server: got.Server, Painted: got.Paint > 0}
	n.ClickToPaint = n.ClickToLoad
	if n.Painted {
		n.ClickToPaint = got.Paint - clicked
	}
	return status, n
}

// The time from a click on "register" to the registered entry's page
// painted, in Chromium (the issue asks for at most 200 ms on the project's
// machine). Each iteration registers a fresh draft of the MOCT clerk:
//
//	go test -run '^$' -bench RegisterClickToPaint -benchtime 20x ./internal/uitest/
func BenchmarkRegisterClickToPaint(bm *testing.B) {
	b := newTab(bm, "bench")
	token, _, err := b.in.run("", "admin", "user", "token", moctClerk)
	if err != nil {
		bm.Fatal(err)
	}
	token = strings.TrimSpace(token)
	if b.login(moctClerk, password); strings.HasPrefix(b.path(), "/login") {
		bm.Fatalf("log in:\n%s", b.text("main"))
	}
	var paint []float64
	bm.ResetTimer()
	for i := 0; i < bm.N; i++ {
		bm.StopTimer()
		entry := newDraftByAPI(bm, b.in, token, fmt.Sprintf("كتاب القياس %d", i))
		b.open(fmt.Sprintf("/entries/%d", entry))
		bm.StartTimer()
		status, n := b.clickTimed("#action-register")
		bm.StopTimer()
		if status >= 400 || !b.has("#register-number") {
			bm.Fatalf("register: status %d, page %s:\n%s", status, b.path(), b.text("main"))
		}
		paint = append(paint, n.ClickToPaint)
		bm.StartTimer()
	}
	slices.Sort(paint)
	var sum float64
	for _, p := range paint {
		sum += p
	}
	bm.ReportMetric(sum/float64(len(paint)), "ms/op")
	bm.ReportMetric(paint[len(paint)/2], "p50-ms")
	bm.ReportMetric(paint[len(paint)-1], "max-ms")
}

// newDraftByAPI makes a draft letter from MOCT to MOF through the JSON
// API and returns the sender's entry id.
func newDraftByAPI(t testing.TB, in *instance, token, subject string) int64 {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"kind": "letter", "subject": subject, "body": "نص", "classification": "normal", "priority": "normal",
		"sender_registry": "MOCT", "recipients": []map[string]string{{"registry": "MOF", "role": "to"}},
	})
	req, _ := http.NewRequest("POST", in.base+"/api/v1/correspondence", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the self-signed dev pair
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		EntryID int64 `json:"entry_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("new draft: status %d, %v", resp.StatusCode, err)
	}
	return d.EntryID
}
