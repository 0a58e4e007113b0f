// Command mamori is a Kubernetes security scanner and policy engine.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/mamori-dev/mamori/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := cli.Main(ctx)
	stop()
	os.Exit(code)
}
