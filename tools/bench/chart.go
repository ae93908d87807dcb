package main

import (
	"fmt"
	"github.com/aiproxy/aiproxy/tools/plot"
	"image"
	"image/color"
	"math"
)

// The chart: one panel per action, p50 (solid) and p99 (dashed) latency against the
// offered rate of the open-loop runs, one colour per target, log-scale latency.

var targetColors = map[string]color.RGBA{
	"direct":  {120, 120, 120, 255},
	"floor":   {31, 119, 180, 255},
	"nginx":   {44, 160, 44, 255},
	"aiproxy": {214, 39, 40, 255},
}

var (
	black = color.RGBA{0, 0, 0, 255}
	grid  = color.RGBA{225, 225, 225, 255}
)

const (
	panelW, panelH = 520, 420
	marginL        = 64
	marginR        = 16
	marginT        = 48
	marginB        = 56
	legendH        = 40
)

// series is one line: a target's p50 or p99 over the rates of one action.
type series struct {
	target string
	dashed bool
	points []float64 // ms per rate index; NaN for missing
}

// drawChart renders the open-loop runs of actions into a PNG at path.
func drawChart(path string, actions []action, runs []stats, targets []string) error {
	img := plot.Canvas(panelW*len(actions), panelH+legendH)
	for i, a := range actions {
		drawPanel(img, image.Pt(i*panelW, legendH), a, runs, targets)
	}
	drawLegend(img, targets)
	return plot.SavePNG(path, img)
}

func drawPanel(img *image.RGBA, origin image.Point, a action, runs []stats, targets []string) {
	var ss []series
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, t := range targets {
		p50 := series{target: t}
		p99 := series{target: t, dashed: true}
		for _, rate := range a.Rates {
			v50, v99 := math.NaN(), math.NaN()
			for _, r := range runs {
				if r.Target == t && r.Action == a.Slug && r.Kind == "open" && r.Rate == rate && r.OK > 0 {
					v50, v99 = r.P50, r.P99
				}
			}
			p50.points = append(p50.points, v50)
			p99.points = append(p99.points, v99)
			for _, v := range []float64{v50, v99} {
				if !math.IsNaN(v) && v > 0 {
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
			}
		}
		ss = append(ss, p50, p99)
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0.1, 10
	}
	// Log scale over whole decades around the data.
	dLo, dHi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dHi <= dLo {
		dHi = dLo + 1
	}
	area := image.Rect(origin.X+marginL, origin.Y+marginT, origin.X+panelW-marginR, origin.Y+panelH-marginB)
	y := func(v float64) int {
		f := (math.Log10(v) - dLo) / (dHi - dLo)
		return area.Max.Y - int(f*float64(area.Dy()))
	}
	n := len(a.Rates)
	x := func(i int) int {
		if n == 1 {
			return area.Min.X + area.Dx()/2
		}
		return area.Min.X + 20 + i*(area.Dx()-40)/(n-1)
	}
	// Grid and y labels at each decade, with fainter lines at 2 and 5.
	for d := dLo; d <= dHi; d++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, d)
			if math.Log10(v) > dHi {
				break
			}
			yy := y(v)
			plot.HLine(img, area.Min.X, area.Max.X, yy, grid)
			label := fmtTick(v)
			plot.Text(img, area.Min.X-6-plot.TextWidth(label), yy+4, label, black)
		}
	}
	for i, rate := range a.Rates {
		xx := x(i)
		plot.VLine(img, xx, area.Min.Y, area.Max.Y, grid)
		label := fmt.Sprint(rate)
		plot.Text(img, xx-plot.TextWidth(label)/2, area.Max.Y+16, label, black)
	}
	// Axes.
	plot.HLine(img, area.Min.X, area.Max.X, area.Max.Y, black)
	plot.VLine(img, area.Min.X, area.Min.Y, area.Max.Y, black)
	title := a.Label
	plot.Text(img, origin.X+(panelW-plot.TextWidth(title))/2, origin.Y+20, title, black)
	xl := "offered rate (requests/s, open loop)"
	plot.Text(img, area.Min.X+(area.Dx()-plot.TextWidth(xl))/2, area.Max.Y+38, xl, black)
	plot.Text(img, origin.X+6, origin.Y+36, "latency ms (log)", black)
	// Lines and points.
	for _, s := range ss {
		c := targetColors[s.target]
		prev := -1
		for i, v := range s.points {
			if math.IsNaN(v) || v <= 0 {
				prev = -1
				continue
			}
			if prev >= 0 {
				plot.Line(img, x(prev), y(s.points[prev]), x(i), y(v), c, s.dashed)
			}
			plot.Square(img, x(i), y(v), 3, c, s.dashed)
			prev = i
		}
	}
}

func drawLegend(img *image.RGBA, targets []string) {
	xx := 16
	for _, t := range targets {
		c := targetColors[t]
		plot.Line(img, xx, 14, xx+30, 14, c, false)
		plot.Text(img, xx+36, 18, t+" p50", black)
		xx += 36 + plot.TextWidth(t+" p50") + 20
		plot.Line(img, xx, 14, xx+30, 14, c, true)
		plot.Text(img, xx+36, 18, t+" p99", black)
		xx += 36 + plot.TextWidth(t+" p99") + 32
	}
	note := "aiproxy via the invoke envelope; floor and nginx inject xi-api-key; direct sends it"
	plot.Text(img, 16, 34, note, color.RGBA{90, 90, 90, 255})
}

func fmtTick(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0fs", v/1000)
	case v >= 1:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%g", v)
}
