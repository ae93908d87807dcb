package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
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
	white   = color.RGBA{255, 255, 255, 255}
	black   = color.RGBA{0, 0, 0, 255}
	gridCol = color.RGBA{225, 225, 225, 255}
	grey    = color.RGBA{170, 170, 170, 255}
	colors  = []color.RGBA{{214, 39, 40, 255}, {31, 119, 180, 255}, {44, 160, 44, 255}}
)

func drawChart(path string, samples []sample, d time.Duration) error {
	ms := metrics(options{})
	img := image.NewRGBA(image.Rect(0, 0, chartW, titleH+panelH*len(ms)))
	draw.Draw(img, img.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)
	text(img, marginL, 22, fmt.Sprintf("aiproxy soak, %v: server resources (coloured) and requests served (grey) over time", d), black)
	for i, m := range ms {
		drawPanel(img, image.Pt(0, titleH+i*panelH), m, samples, colors[i%len(colors)])
	}
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
		hline(img, x0, x1, yy, gridCol)
		label := fmt.Sprintf("%.0f", v)
		if top < 10 {
			label = fmt.Sprintf("%.1f", v)
		}
		text(img, x0-8-textWidth(label), yy+4, label, black)
	}
	// x ticks: five, in seconds or minutes
	for i := 0; i <= 5; i++ {
		t := maxT * float64(i) / 5
		xx := x(t)
		vline(img, xx, y0, y1, gridCol)
		label := fmt.Sprintf("%.0fs", t)
		if maxT >= 300 {
			label = fmt.Sprintf("%.1fm", t/60)
		}
		text(img, xx-textWidth(label)/2, y1+16, label, black)
	}
	hline(img, x0, x1, y1, black)
	vline(img, x0, y0, y1, black)
	name := m.name
	if m.unit != "" {
		name += " (" + m.unit + ")"
	}
	text(img, x0+6, y0-8, name, c)
	// requests served, scaled to the panel
	if maxReq > 0 {
		for i := 1; i < len(samples); i++ {
			a, b := samples[i-1], samples[i]
			line(img, x(a.at.Seconds()), y1-int(float64(a.requests)/maxReq*float64(y1-y0)),
				x(b.at.Seconds()), y1-int(float64(b.requests)/maxReq*float64(y1-y0)), grey)
		}
	}
	for i, s := range samples {
		if i > 0 {
			p := samples[i-1]
			line(img, x(p.at.Seconds()), y(m.get(p)), x(s.at.Seconds()), y(m.get(s)), c)
		}
		dot(img, x(s.at.Seconds()), y(m.get(s)), c)
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

// line draws a 2-pixel line.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	dx, dy := float64(x1-x0), float64(y1-y0)
	steps := int(math.Max(math.Abs(dx), math.Abs(dy)))
	if steps == 0 {
		steps = 1
	}
	for i := 0; i <= steps; i++ {
		xx := x0 + int(math.Round(dx*float64(i)/float64(steps)))
		yy := y0 + int(math.Round(dy*float64(i)/float64(steps)))
		img.Set(xx, yy, c)
		img.Set(xx+1, yy, c)
		img.Set(xx, yy+1, c)
	}
}

func dot(img *image.RGBA, x, y int, c color.Color) {
	for i := -2; i <= 2; i++ {
		for j := -2; j <= 2; j++ {
			img.Set(x+i, y+j, c)
		}
	}
}
