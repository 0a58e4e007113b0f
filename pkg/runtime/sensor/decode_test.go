package sensor

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// record builds a kernel record of kind with the header's uid/euid.
func record(kind byte, size int, uid, euid uint32) []byte {
	b := make([]byte, size)
	b[0] = kind
	le.PutUint32(b[4:], 42)
	le.PutUint32(b[16:], uid)
	le.PutUint32(b[24:], euid)
	copy(b[56:], "x")
	return b
}

func TestDecodePrivilege(t *testing.T) {
	for _, c := range []struct {
		name      string
		nr        int32
		uid, euid uint32
		args      []uint64
		ret       int64
		toRoot    bool
	}{
		{"setuid(0) by a non-root process that may (setuid binary)", unix.SYS_SETUID, 1000, 0, []uint64{0}, 0, true},
		{"setuid(0) refused", unix.SYS_SETUID, 1000, 1000, []uint64{0}, -int64(unix.EPERM), false},
		{"root staying root", unix.SYS_SETUID, 0, 0, []uint64{0}, 0, false},
		{"dropping to 1000", unix.SYS_SETRESUID, 0, 0, []uint64{1000, 1000, 1000}, 0, false},
		{"setresuid(-1, 0, -1)", unix.SYS_SETRESUID, 1000, 1000, []uint64{0xffffffff, 0, 0xffffffff}, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := record(kPriv, sysSize, c.uid, c.euid)
			le.PutUint32(b[hdrSize:], uint32(c.nr))
			le.PutUint64(b[hdrSize+8:], uint64(c.ret))
			for i, a := range c.args {
				le.PutUint64(b[hdrSize+16+8*i:], a)
			}
			e, err := (&Sensor{}).decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if e.Privilege == nil || e.Privilege.ToRoot != c.toRoot || e.Ret != c.ret {
				t.Errorf("decoded %+v ret %d, want toRoot %v", e.Privilege, e.Ret, c.toRoot)
			}
		})
	}
}

func TestDecodeExitAndErrors(t *testing.T) {
	b := record(kExit, exitSize, 0, 0)
	le.PutUint32(b[hdrSize:], 3<<8)
	e, err := (&Sensor{}).decode(b)
	if err != nil || e.Exit.Code != 3 || e.Exit.Signal != 0 {
		t.Errorf("exit 3: %+v %v", e, err)
	}
	le.PutUint32(b[hdrSize:], 9)
	if e, _ := (&Sensor{}).decode(b); e.Exit.Signal != 9 {
		t.Errorf("killed by 9: %+v", e.Exit)
	}
	for _, bad := range [][]byte{make([]byte, 10), record(99, hdrSize, 0, 0), record(kExec, hdrSize+8, 0, 0)} {
		if _, err := (&Sensor{}).decode(bad); err == nil || !strings.Contains(err.Error(), "kind") && !strings.Contains(err.Error(), "header") {
			t.Errorf("decode of a bad %d-byte record: %v", len(bad), err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(record(kExec, execSize, 0, 0))
	f.Add(record(kPriv, sysSize, 1000, 0))
	f.Add(record(kConnect, netSize, 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		(&Sensor{}).decode(b) // must not panic
	})
}
