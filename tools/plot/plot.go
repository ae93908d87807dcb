// Package plot draws the few primitives the benchmark and soak charts are made of — text,
// axis lines, data lines and markers — on an image.RGBA, with the standard library and
// x/image's fixed-size font, so that the charts need no plotting dependency.
package plot

import (
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

// Text draws s with its baseline at y.
func Text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// TextWidth is the width of s in pixels.
func TextWidth(s string) int { return font.MeasureString(basicfont.Face7x13, s).Round() }

// HLine draws a horizontal line from x0 to x1.
func HLine(img *image.RGBA, x0, x1, y int, c color.Color) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, c)
	}
}

// VLine draws a vertical line from y0 to y1.
func VLine(img *image.RGBA, x, y0, y1 int, c color.Color) {
	for y := y0; y <= y1; y++ {
		img.Set(x, y, c)
	}
}

// Line draws a 2-pixel line; a dashed one draws 6 pixels of every 10.
func Line(img *image.RGBA, x0, y0, x1, y1 int, c color.Color, dashed bool) {
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

// Square draws a square marker of the given half size, filled or hollow.
func Square(img *image.RGBA, x, y, half int, c color.Color, hollow bool) {
	for i := -half; i <= half; i++ {
		for j := -half; j <= half; j++ {
			if hollow && i > -half && i < half && j > -half && j < half {
				continue
			}
			img.Set(x+i, y+j, c)
		}
	}
}

// Canvas returns a w×h image painted white.
func Canvas(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	return img
}

// SavePNG writes img to path as a PNG.
func SavePNG(path string, img image.Image) error {
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
