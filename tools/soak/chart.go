package main

import (
	"fmt"
	"github.com/aiproxy/aiproxy/tools/plot"
	"image"
	"image/color"
	"math"
	"time"
)

// The chart: one panel per resource (RSS, goroutines, open fds) against time, each with
// its own scale from zero, and the request count as a grey line scaled to the panel.

const (
	chartW, panelH   = 900, 220
	marginL, marginR = 70, 20
	marginT, marginB = 28, 30
	titleH           = 36
)

var (
	black   = color.RGBA{0, 0, 0, 255}
	gridCol = color.RGBA{225, 225, 225, 255}
	grey    = color.RGBA{170, 170, 170, 255}
	colors  = []color.RGBA{{214, 39, 40, 255}, {31, 119, 180, 255}, {44, 160, 44, 255}}
)

func drawChart(path string, samples []sample, d time.Duration) error {
	ms := metrics(options{})
	img := plot.Canvas(chartW, titleH+panelH*len(ms))
	plot.Text(img, marginL, 22, fmt.Sprintf("aiproxy soak, %v: server resources (coloured) and requests served (grey) over time", d), black)
	for i, m := range ms {
		drawPanel(img, image.Pt(0, titleH+i*panelH), m, samples, colors[i%len(colors)])
	}
	return plot.SavePNG(path, img)
}

func drawPanel(img *image.RGBA, o image.Point, m metric, samples []sample, c color.RGBA) {
	x0, x1 := o.X+marginL, o.X+chartW-marginR
	y0, y1 := o.Y+marginT, o.Y+panelH-marginB // top, bottom
	maxV, maxT, maxReq := 0.0, 0.0, 0.0
	for _, s := range samples {
		maxV = math.Max(maxV, m.get(s))
		maxT = math.Max(maxT, s.at.Seconds())
		maxReq = math.Max(maxReq, float64(s.requests))
	}
	top := niceCeil(maxV * 1.1)
	if maxT == 0 {
		maxT = 1
	}
	x := func(t float64) int { return x0 + int(math.Round(t/maxT*float64(x1-x0))) }
	y := func(v float64) int { return y1 - int(math.Round(v/top*float64(y1-y0))) }
	// grid and y ticks
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		yy := y(v)
		plot.HLine(img, x0, x1, yy, gridCol)
		label := fmt.Sprintf("%.0f", v)
		if top < 10 {
			label = fmt.Sprintf("%.1f", v)
		}
		plot.Text(img, x0-8-plot.TextWidth(label), yy+4, label, black)
	}
	// x ticks: five, in seconds or minutes
	for i := 0; i <= 5; i++ {
		t := maxT * float64(i) / 5
		xx := x(t)
		plot.VLine(img, xx, y0, y1, gridCol)
		label := fmt.Sprintf("%.0fs", t)
		if maxT >= 300 {
			label = fmt.Sprintf("%.1fm", t/60)
		}
		plot.Text(img, xx-plot.TextWidth(label)/2, y1+16, label, black)
	}
	plot.HLine(img, x0, x1, y1, black)
	plot.VLine(img, x0, y0, y1, black)
	name := m.name
	if m.unit != "" {
		name += " (" + m.unit + ")"
	}
	plot.Text(img, x0+6, y0-8, name, c)
	// requests served, scaled to the panel
	if maxReq > 0 {
		for i := 1; i < len(samples); i++ {
			a, b := samples[i-1], samples[i]
			plot.Line(img, x(a.at.Seconds()), y1-int(float64(a.requests)/maxReq*float64(y1-y0)),
				x(b.at.Seconds()), y1-int(float64(b.requests)/maxReq*float64(y1-y0)), grey, false)
		}
	}
	for i, s := range samples {
		if i > 0 {
			p := samples[i-1]
			plot.Line(img, x(p.at.Seconds()), y(m.get(p)), x(s.at.Seconds()), y(m.get(s)), c, false)
		}
		plot.Square(img, x(s.at.Seconds()), y(m.get(s)), 2, c, false)
	}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, f := range []float64{1, 2, 5, 10} {
		if f*p >= v {
			return f * p
		}
	}
	return 10 * p
}
