package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOutputPathsDefaultToTheRepositoryAndOtherwiseToTheWorkingDirectory(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := "/repo"
	tests := []struct {
		name, p string
		given   bool
		want    string
	}{
		{"default results", defaultResults, false, "/repo/tools/bench/results"},
		{"default doc", defaultDoc, false, "/repo/docs/benchmarks.md"},
		{"no doc", "", true, ""},
		{"absolute", "/tmp/out", true, "/tmp/out"},
		{"relative, given", "out", true, filepath.Join(wd, "out")},
	}
	for _, tt := range tests {
		got, err := outputPath(root, tt.p, tt.given)
		if err != nil || got != tt.want {
			t.Errorf("%s: outputPath(%q, %q, %v) = %q, %v; want %q", tt.name, root, tt.p, tt.given, got, err, tt.want)
		}
	}
}

func TestTheDocLinksTheChartRelatively(t *testing.T) {
	for _, tt := range []struct{ doc, target, want string }{
		{"/repo/docs/benchmarks.md", "/repo/tools/bench/results/latency.png", "../tools/bench/results/latency.png"},
		{"/tmp/x/doc.md", "/tmp/x/res/latency.png", "res/latency.png"},
	} {
		if got := relLink(tt.doc, tt.target); got != tt.want {
			t.Errorf("relLink(%q, %q) = %q, want %q", tt.doc, tt.target, got, tt.want)
		}
	}
}
