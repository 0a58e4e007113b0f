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
	const root, user, userns = 0, 1000, 100000
	for _, c := range []struct {
		name      string
		nr        int32
		uid, euid uint32
		args      []uint64
		after     [6]uint32 // uid euid fsuid gid egid fsgid after the call
		toRoot    bool
	}{
		{"setuid(0) through a setuid binary", unix.SYS_SETUID, user, root, []uint64{0}, [6]uint32{root, root, root, user, user, user}, true},
		{"setuid(0) refused", unix.SYS_SETUID, user, user, []uint64{0}, [6]uint32{user, user, user, user, user, user}, false},
		{"root staying root", unix.SYS_SETUID, root, root, []uint64{0}, [6]uint32{}, false},
		{"dropping to 1000", unix.SYS_SETRESUID, root, root, []uint64{1000, 1000, 1000}, [6]uint32{user, user, user}, false},
		{"setresuid(-1, 0, -1) granted", unix.SYS_SETRESUID, user, user, []uint64{0xffffffff, 0, 0xffffffff}, [6]uint32{user, root, root, user, user, user}, true},
		{"container root in a user namespace: setuid(0) is not host root", unix.SYS_SETUID, userns, userns, []uint64{0}, [6]uint32{userns, userns, userns, userns, userns, userns}, false},
		{"setfsuid(0) refused (it returns the old ID, never an error)", unix.SYS_SETFSUID, user, user, []uint64{0}, [6]uint32{user, user, user, user, user, user}, false},
		{"setgid(0) granted", unix.SYS_SETGID, root, root, []uint64{0}, [6]uint32{root, root, root, root, root, root}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := record(kPriv, sysSize, c.uid, c.euid)
			le.PutUint32(b[20:], c.uid) // gid in the header, like uid
			le.PutUint32(b[hdrSize:], uint32(c.nr))
			for i, v := range c.after {
				le.PutUint32(b[sysCredOff+4*i:], v)
			}
			for i, a := range c.args {
				le.PutUint64(b[sysArgOff+8*i:], a)
			}
			e, err := (&Sensor{}).decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if e.Privilege == nil || e.Privilege.ToRoot != c.toRoot || len(e.Privilege.IDs) != len(c.args) {
				t.Errorf("decoded %+v, want toRoot %v", e.Privilege, c.toRoot)
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
