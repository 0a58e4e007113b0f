package disk

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// BenchmarkWalkRead walks an ext4 image of a Debian-sized tree (the first
// 20,000 regular files of /usr) and reads every file's content.
func BenchmarkWalkRead(b *testing.B) {
	needMkfs(b)
	src := b.TempDir()
	n := 0
	filepath.WalkDir("/usr", func(p string, e fs.DirEntry, err error) error {
		if err != nil || n >= 20000 {
			return fs.SkipDir
		}
		if !e.Type().IsRegular() {
			return nil
		}
		dst := filepath.Join(src, p)
		if os.MkdirAll(filepath.Dir(dst), 0o755) != nil {
			return nil
		}
		if os.Link(p, dst) != nil { // another filesystem: copy
			data, err := os.ReadFile(p)
			if err != nil || os.WriteFile(dst, data, 0o644) != nil {
				return nil
			}
		}
		n++
		return nil
	})
	img := makeImage(b, src, "4G")
	d, err := Open(img)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	tree, err := d.Partitions()[0].Tree()
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	var files, total int64
	b.ResetTimer()
	for b.Loop() {
		files, total = 0, 0
		err := tree.Walk(context.Background(), func(path string, info inventory.FileInfo, open inventory.OpenFunc) error {
			f, err := open()
			if err != nil {
				return err
			}
			defer f.Close()
			m, err := io.CopyBuffer(io.Discard, f.Reader(), buf)
			files++
			total += m
			return err
		}, func(p inventory.Problem) { b.Error(p) })
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(total)
	b.ReportMetric(float64(files), "files")
}
