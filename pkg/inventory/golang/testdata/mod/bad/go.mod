module example.com/bad

go 1.22

require (
	github.com/gorilla/mux v1.8.1
	github.com/pkg/errors
)
