package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// Chart geometry, in pixels.
const (
	svgWidth    = 960
	svgLabelW   = 90  // system names, left of the bars
	svgBarMaxW  = 560 // the fastest system of a case
	svgBarH     = 18
	svgBarGap   = 6
	svgTitleH   = 24 // a case's title line
	svgGroupGap = 14
	svgTop      = 64 // the chart's title and machine lines
)

var svgColors = map[string]string{"merlin": "#2b6cb0", "kgo": "#dd8a1e", "sarama": "#5a9a3c", javaSystem: "#b83280"}

// writeSVG draws msgs/s as horizontal bars, one group per case, each group
// scaled to its fastest system, with the value and merlin's ratio beside
// each bar.
func (r *report) writeSVG(w io.Writer) error {
	height := svgTop + 20
	for _, cr := range r.cases {
		height += svgTitleH + len(cr.rows)*(svgBarH+svgBarGap) + svgGroupGap
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", svgWidth, height)
	svgText(&b, 12, 24, `font-size="16" font-weight="bold"`, "merlin-bench: messages a second (longer is faster), medians of "+fmt.Sprint(r.runs)+" runs")
	svgText(&b, 12, 44, `fill="#555555"`, r.machine.String())
	svgText(&b, 12, 58, `fill="#555555"`, r.brokerLine())
	y := svgTop + 10
	for _, cr := range r.cases {
		top := 0.0
		for _, rw := range cr.rows {
			if rw.err == nil {
				top = max(top, rw.rate)
			}
		}
		svgText(&b, 12, y+16, `font-weight="bold"`, cr.title())
		y += svgTitleH
		for _, rw := range cr.rows {
			svgText(&b, 12, y+13, "", rw.system)
			x := svgLabelW
			switch {
			case rw.err != nil:
				svgText(&b, x, y+13, `fill="#c53030"`, "error: no result")
			default:
				bw := 1
				if top > 0 {
					bw = max(1, int(rw.rate/top*svgBarMaxW+0.5))
				}
				color := svgColors[rw.system]
				if color == "" {
					color = "#888888"
				}
				fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", x, y, bw, svgBarH, color)
				label := fmtRate(rw.rate) + " msgs/s"
				if rw.hasRatio && rw.system != "merlin" {
					label += fmt.Sprintf("  (merlin x%.2f)", rw.ratio)
				}
				svgText(&b, x+bw+6, y+13, "", label)
			}
			y += svgBarH + svgBarGap
		}
		y += svgGroupGap
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

func svgText(b *bytes.Buffer, x, y int, attrs, text string) {
	if attrs != "" {
		attrs = " " + strings.TrimSpace(attrs)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d"%s>`, x, y, attrs)
	_ = xml.EscapeText(b, []byte(text))
	b.WriteString("</text>\n")
}
