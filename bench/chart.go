package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
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
	white = color.RGBA{255, 255, 255, 255}
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
	img := image.NewRGBA(image.Rect(0, 0, panelW*len(actions), panelH+legendH))
	draw.Draw(img, img.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)
	for i, a := range actions {
		drawPanel(img, image.Pt(i*panelW, legendH), a, runs, targets)
	}
	drawLegend(img, targets)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
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
	plot := image.Rect(origin.X+marginL, origin.Y+marginT, origin.X+panelW-marginR, origin.Y+panelH-marginB)
	y := func(v float64) int {
		f := (math.Log10(v) - dLo) / (dHi - dLo)
		return plot.Max.Y - int(f*float64(plot.Dy()))
	}
	n := len(a.Rates)
	x := func(i int) int {
		if n == 1 {
			return plot.Min.X + plot.Dx()/2
		}
		return plot.Min.X + 20 + i*(plot.Dx()-40)/(n-1)
	}
	// Grid and y labels at each decade, with fainter lines at 2 and 5.
	for d := dLo; d <= dHi; d++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, d)
			if math.Log10(v) > dHi {
				break
			}
			yy := y(v)
			hline(img, plot.Min.X, plot.Max.X, yy, grid)
			label := fmtTick(v)
			text(img, plot.Min.X-6-textWidth(label), yy+4, label, black)
		}
	}
	for i, rate := range a.Rates {
		xx := x(i)
		vline(img, xx, plot.Min.Y, plot.Max.Y, grid)
		label := fmt.Sprint(rate)
		text(img, xx-textWidth(label)/2, plot.Max.Y+16, label, black)
	}
	// Axes.
	hline(img, plot.Min.X, plot.Max.X, plot.Max.Y, black)
	vline(img, plot.Min.X, plot.Min.Y, plot.Max.Y, black)
	title := a.Label
	text(img, origin.X+(panelW-textWidth(title))/2, origin.Y+20, title, black)
	xl := "offered rate (requests/s, open loop)"
	text(img, plot.Min.X+(plot.Dx()-textWidth(xl))/2, plot.Max.Y+38, xl, black)
	text(img, origin.X+6, origin.Y+36, "latency ms (log)", black)
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
				line(img, x(prev), y(s.points[prev]), x(i), y(v), c, s.dashed)
			}
			marker(img, x(i), y(v), c, s.dashed)
			prev = i
		}
	}
}

func drawLegend(img *image.RGBA, targets []string) {
	xx := 16
	for _, t := range targets {
		c := targetColors[t]
		line(img, xx, 14, xx+30, 14, c, false)
		text(img, xx+36, 18, t+" p50", black)
		xx += 36 + textWidth(t+" p50") + 20
		line(img, xx, 14, xx+30, 14, c, true)
		text(img, xx+36, 18, t+" p99", black)
		xx += 36 + textWidth(t+" p99") + 32
	}
	note := "aiproxy via the invoke envelope; floor and nginx inject xi-api-key; direct sends it"
	text(img, 16, 34, note, color.RGBA{90, 90, 90, 255})
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

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func textWidth(s string) int { return font.MeasureString(basicfont.Face7x13, s).Round() }

func hline(img *image.RGBA, x0, x1, y int, c color.Color) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.Color) {
	for y := y0; y <= y1; y++ {
		img.Set(x, y, c)
	}
}

// line draws a 2-pixel line; dashed lines draw 6 pixels of every 10.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.Color, dashed bool) {
	dx, dy := float64(x1-x0), float64(y1-y0)
	steps := int(math.Max(math.Abs(dx), math.Abs(dy)))
	if steps == 0 {
		steps = 1
	}
	for i := 0; i <= steps; i++ {
		if dashed && i%10 >= 6 {
			continue
		}
		x := x0 + int(math.Round(dx*float64(i)/float64(steps)))
		y := y0 + int(math.Round(dy*float64(i)/float64(steps)))
		img.Set(x, y, c)
		img.Set(x+1, y, c)
		img.Set(x, y+1, c)
	}
}

// marker is a filled square for p50, a hollow one for p99.
func marker(img *image.RGBA, x, y int, c color.Color, hollow bool) {
	for i := -3; i <= 3; i++ {
		for j := -3; j <= 3; j++ {
			if hollow && i > -3 && i < 3 && j > -3 && j < 3 {
				continue
			}
			img.Set(x+i, y+j, c)
		}
	}
}
