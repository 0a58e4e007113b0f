package disk

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// debootstrapRoot is where a debootstrap --variant=minbase of Debian 12
// may have been left by another test setup.
const debootstrapRoot = "/var/cache/mamori-test/debian12-minbase"

// TestDebianGPT puts a real Debian root into an ext4 partition of a GPT
// disk and checks that the dpkg database reads back byte-identical.
func TestDebianGPT(t *testing.T) {
	want, err := os.ReadFile(filepath.Join(debootstrapRoot, "var/lib/dpkg/status"))
	if err != nil {
		t.Skipf("no debootstrap tree: %v", err)
	}
	// mkfs writes straight into the partition (-E offset), sparing a
	// copy of the image.
	const size = 768 * mib
	f, path := newDisk(t, size+2*mib)
	if out, err := exec.Command(mkfs, "-q", "-F", "-E", "offset="+strconv.Itoa(mib), "-d", debootstrapRoot, path, strconv.Itoa(size/1024)).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	writeGPT(t, f, (size+2*mib)/512, []gptPart{{linuxFS, "root", 2048, 2048 + size/512 - 1}})
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	scan, notes := Scannable(d.Partitions())
	if len(scan) != 1 || len(notes) != 0 {
		t.Fatalf("Scannable = %v, %v", scan, notes)
	}
	tree, err := scan[0].Tree()
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	files := 0
	err = tree.Walk(context.Background(), func(p string, _ inventory.FileInfo, open inventory.OpenFunc) error {
		files++
		if p != "var/lib/dpkg/status" {
			return nil
		}
		f, err := open()
		if err != nil {
			return err
		}
		defer f.Close()
		got, err = io.ReadAll(f.Reader())
		return err
	}, func(p inventory.Problem) { t.Error(p) })
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("var/lib/dpkg/status: read %d bytes, differ from the %d on disk", len(got), len(want))
	}
	t.Logf("%d files", files)
}
