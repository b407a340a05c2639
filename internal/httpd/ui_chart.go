package httpd

// Charts drawn by the server as inline SVG (DESIGN.md §3a): no script and
// no chart library, so that a page with a chart works as any other page
// and obeys the Content-Security-Policy. Presentation is in attributes and
// in diwan.css (classes), never in a style attribute.

import (
	"fmt"
	"html"
	"html/template"
	"strings"
)

// chartBar is one bar of a bar chart.
type chartBar struct {
	Label string // under the bar when shown (LabelShown), and in its name
	Value int
	Href  string // where the bar leads; "" for none
	Name  string // the bar's accessible name: what it stands for, in words
	// LabelShown writes Label under the bar; a chart of many bars shows
	// only some of them.
	LabelShown bool
}

// barChart is a bar chart along a time axis: Bars are in the order of
// time, the oldest first.
type barChart struct {
	ID    string // the id of the <svg>; its title and description are ID-title, ID-desc
	Title string // the chart's accessible name
	Desc  string // its description: what the bars count, and over what period
	Bars  []chartBar
	// RTL draws time from right to left, as Arabic reads: the oldest bar
	// at the right. Otherwise the oldest is at the left.
	RTL bool
}

// The chart's geometry, in SVG user units.
const (
	chartBarWidth = 20 // the width of a bar's slot
	chartBarGap   = 4  // the space left in the slot beside the bar
	chartPlot     = 140
	chartTop      = 20 // room for the scale's figure above the plot
	chartBottom   = 24 // room for the labels under the plot
	chartSide     = 8  // a margin at each end of the axis
)

// SVG writes the chart as inline SVG: a group of links, one per bar, each
// named by its title and aria-label, the chart named by its <title> and
// described by its <desc>. Bars are as tall as their value against the
// largest one; a bar of zero is a hairline on the axis.
func (ch barChart) SVG() template.HTML {
	n := len(ch.Bars)
	width := 2*chartSide + n*chartBarWidth
	height := chartTop + chartPlot + chartBottom
	top := 0
	for _, b := range ch.Bars {
		top = max(top, b.Value)
	}
	id := html.EscapeString(ch.ID)
	var s strings.Builder
	fmt.Fprintf(&s, `<svg id="%s" class="chart" role="group" viewBox="0 0 %d %d" width="100%%" preserveAspectRatio="xMidYMid meet" aria-labelledby="%s-title" aria-describedby="%s-desc" xmlns="http://www.w3.org/2000/svg">`,
		id, width, height, id, id)
	fmt.Fprintf(&s, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, id, html.EscapeString(ch.Title), id, html.EscapeString(ch.Desc))
	base := chartTop + chartPlot
	fmt.Fprintf(&s, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d" stroke="currentColor" stroke-width="1"/>`, chartSide, base, width-chartSide, base)
	fmt.Fprintf(&s, `<text class="scale" direction="ltr" x="%d" y="%d" text-anchor="%s" font-size="11" fill="currentColor" aria-hidden="true">%d</text>`,
		ch.edge(width), chartTop-6, ch.anchor(), top)
	for i, b := range ch.Bars {
		x := ch.slot(i, n)
		h := 0
		if top > 0 {
			h = b.Value * chartPlot / top
		}
		h = max(h, 1)
		ch.bar(&s, b, x, base-h, h)
	}
	s.WriteString(`</svg>`)
	return template.HTML(s.String()) // #nosec G203 -- every text escaped above
}

// bar writes one bar at x (its slot's left edge), its top at y.
func (ch barChart) bar(s *strings.Builder, b chartBar, x, y, h int) {
	name := html.EscapeString(b.Name)
	if b.Href != "" {
		fmt.Fprintf(s, `<a href="%s" aria-label="%s">`, html.EscapeString(b.Href), name)
	} else {
		fmt.Fprintf(s, `<g role="img" aria-label="%s">`, name)
	}
	class := "bar"
	if b.Value == 0 {
		class = "bar zero"
	}
	fmt.Fprintf(s, `<title>%s</title><rect class="%s" x="%d" y="%d" width="%d" height="%d" data-label="%s" data-value="%d"/>`,
		name, class, x+chartBarGap/2, y, chartBarWidth-chartBarGap, h, html.EscapeString(b.Label), b.Value)
	if b.LabelShown {
		fmt.Fprintf(s, `<text class="label" direction="ltr" x="%d" y="%d" text-anchor="middle" font-size="10" fill="currentColor" aria-hidden="true">%s</text>`,
			x+chartBarWidth/2, chartTop+chartPlot+14, html.EscapeString(b.Label))
	}
	if b.Href != "" {
		s.WriteString(`</a>`)
	} else {
		s.WriteString(`</g>`)
	}
}

// slot is the left edge of the slot of bar i of n: left to right in time,
// or right to left.
func (ch barChart) slot(i, n int) int {
	if ch.RTL {
		i = n - 1 - i
	}
	return chartSide + i*chartBarWidth
}

// edge is where the scale's figure stands: at the start of the axis in
// the direction of reading (left in English, right in Arabic).
func (ch barChart) edge(width int) int {
	if ch.RTL {
		return width - chartSide
	}
	return chartSide
}

// anchor anchors the scale's figure to the edge it stands at.
func (ch barChart) anchor() string {
	if ch.RTL {
		return "end"
	}
	return "start"
}
