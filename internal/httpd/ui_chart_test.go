package httpd

import (
	"encoding/xml"
	"strconv"
	"strings"
	"testing"
)

// svgRect is a bar as the chart draws it.
type svgRect struct {
	X      int    `xml:"x,attr"`
	Y      int    `xml:"y,attr"`
	Height int    `xml:"height,attr"`
	Label  string `xml:"data-label,attr"`
	Value  int    `xml:"data-value,attr"`
}

// svgDoc is what the tests read of a chart: its name and description, and
// each bar with the name of its link.
type svgDoc struct {
	Role  string `xml:"role,attr"`
	Title string `xml:"title"`
	Desc  string `xml:"desc"`
	Links []struct {
		Href  string  `xml:"href,attr"`
		Label string  `xml:"aria-label,attr"`
		Title string  `xml:"title"`
		Rect  svgRect `xml:"rect"`
	} `xml:"a"`
}

func parseChart(t *testing.T, ch barChart) svgDoc {
	t.Helper()
	var d svgDoc
	if err := xml.Unmarshal([]byte(ch.SVG()), &d); err != nil {
		t.Fatalf("the chart is not well-formed SVG: %v\n%s", err, ch.SVG())
	}
	return d
}

func threeDays(rtl bool) barChart {
	ch := barChart{ID: "per-day", Title: "Refusals per day", Desc: "30 days <& more>", RTL: rtl}
	for i, v := range []int{4, 0, 2} {
		day := "2026-12-0" + strconv.Itoa(i+1)
		ch.Bars = append(ch.Bars, chartBar{Label: day, Value: v, Href: "/admin/audit?day=" + day + "&x=1", Name: day + ": " + strconv.Itoa(v), LabelShown: true})
	}
	return ch
}

// The chart reads left to right in English, the oldest bar at the left,
// and right to left in Arabic, the oldest at the right: the same bars
// mirrored; bars are as tall as their value against the largest.
func TestBarChartMirrorsTheTimeAxisRightToLeft(t *testing.T) {
	ltr, rtl := parseChart(t, threeDays(false)), parseChart(t, threeDays(true))
	if len(ltr.Links) != 3 || len(rtl.Links) != 3 {
		t.Fatalf("bars: %d and %d, want 3", len(ltr.Links), len(rtl.Links))
	}
	for i := 1; i < 3; i++ {
		if ltr.Links[i].Rect.X <= ltr.Links[i-1].Rect.X {
			t.Errorf("ltr: bar %d at x=%d is not right of bar %d at x=%d", i, ltr.Links[i].Rect.X, i-1, ltr.Links[i-1].Rect.X)
		}
		if rtl.Links[i].Rect.X >= rtl.Links[i-1].Rect.X {
			t.Errorf("rtl: bar %d at x=%d is not left of bar %d at x=%d", i, rtl.Links[i].Rect.X, i-1, rtl.Links[i-1].Rect.X)
		}
	}
	if ltr.Links[0].Rect.X != rtl.Links[2].Rect.X || ltr.Links[2].Rect.X != rtl.Links[0].Rect.X {
		t.Errorf("the rtl chart is not the ltr one mirrored: ltr %+v, rtl %+v", ltr.Links, rtl.Links)
	}
	tallest, zero, half := ltr.Links[0].Rect, ltr.Links[1].Rect, ltr.Links[2].Rect
	if tallest.Height != chartPlot || half.Height != chartPlot/2 || zero.Height != 1 {
		t.Errorf("heights %d %d %d, want %d %d 1", tallest.Height, half.Height, zero.Height, chartPlot, chartPlot/2)
	}
	if tallest.Y+tallest.Height != zero.Y+zero.Height {
		t.Error("the bars do not stand on one axis")
	}
}

// Every bar is a link named in words (aria-label and <title>), the chart
// is named and described, and every text is escaped.
func TestBarChartNamesEveryBarAndEscapesText(t *testing.T) {
	ch := threeDays(true)
	d := parseChart(t, ch)
	if d.Role != "group" || d.Title != "Refusals per day" || d.Desc != "30 days <& more>" {
		t.Errorf("the chart's role, title, desc: %q %q %q", d.Role, d.Title, d.Desc)
	}
	for _, l := range d.Links {
		if l.Label == "" || l.Title != l.Label || !strings.HasPrefix(l.Label, l.Rect.Label+": ") {
			t.Errorf("bar %+v is not named", l)
		}
		if !strings.HasSuffix(l.Href, "&x=1") {
			t.Errorf("bar's link %q", l.Href)
		}
	}
	svg := string(ch.SVG())
	if strings.Contains(svg, "<&") || !strings.Contains(svg, "&amp;x=1") {
		t.Errorf("text not escaped: %s", svg)
	}
	if strings.Contains(svg, "style=") || strings.Contains(svg, "<script") {
		t.Errorf("the chart has a style attribute or a script: %s", svg)
	}
	ch.Bars[0].Href = ""
	if svg := string(ch.SVG()); !strings.Contains(svg, `<g role="img" aria-label="2026-12-01: 4">`) {
		t.Errorf("a bar without a link is not an image named in words: %s", svg)
	}
}
