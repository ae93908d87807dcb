package plot

import (
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestCanvasIsWhiteAndSavesAsAPNGWithWhatWasDrawn(t *testing.T) {
	img := Canvas(40, 20)
	if got := img.RGBAAt(5, 5); got != (color.RGBA{255, 255, 255, 255}) {
		t.Fatalf("canvas pixel %v, want white", got)
	}
	red := color.RGBA{255, 0, 0, 255}
	HLine(img, 0, 39, 10, red)
	path := filepath.Join(t.TempDir(), "c.png")
	if err := SavePNG(path, img); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if back.Bounds().Dx() != 40 || back.Bounds().Dy() != 20 {
		t.Fatalf("size %v", back.Bounds())
	}
	if r, g, b, _ := back.At(20, 10).RGBA(); r != 0xffff || g != 0 || b != 0 {
		t.Errorf("the drawn line did not survive: %v %v %v", r, g, b)
	}
}
