// Command etcd is the etcd server, built from go.etcd.io/etcd/server/v3 for
// the test control plane (hack/envtest.sh). It is what the etcd release's own
// main does, without the release module's local replace directives.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
