module github.com/example/server

go 1.22.0

toolchain go1.22.4

require (
	github.com/gorilla/mux v1.8.1
	github.com/prometheus/client_golang v1.19.1
	golang.org/x/net v0.26.0
	gopkg.in/yaml.v3 v3.0.1
	k8s.io/client-go v0.30.2
	github.com/example/internal v0.0.0-00010101000000-000000000000
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.2.0 // indirect
	github.com/golang/protobuf v1.5.4 // indirect
	github.com/prometheus/client_model v0.6.1 // indirect
	golang.org/x/sys v0.21.0 // indirect
	google.golang.org/protobuf v1.34.2 // indirect
)

replace (
	// a fork, pinned
	golang.org/x/net v0.26.0 => golang.org/x/net v0.27.0
	github.com/golang/protobuf => github.com/golang/protobuf v1.5.3
	github.com/example/internal => ../internal
)

exclude golang.org/x/sys v0.20.0

retract v0.1.0 // published by mistake
