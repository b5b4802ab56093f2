// Command server is the Aura demo service: every part of redishttp wired
// together behind one net/http server.
//
//	go run ./examples/server                      # embedded in-memory mode, no Redis needed
//	REDIS_URL=redis://127.0.0.1:6379/0 go run ./examples/server
//	REDIS_CLUSTER_ADDRS=127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 go run ./examples/server
//
// Flags and environment variables are documented in package aura and in the
// README; routes are listed by aura.App.Handler.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aura-platform/redishttp/examples/server/aura"
)

func main() {
	if err := run(os.Args[1:], os.LookupEnv); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

func run(args []string, lookup func(string) (string, bool)) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	addr := fs.String("addr", "", "listen address (default $ADDR, else :8080)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := aura.LoadConfig(lookup)
	if err != nil {
		return err
	}
	if *addr != "" {
		cfg.Addr = *addr
	}
	app, err := aura.New(cfg, logger)
	if err != nil {
		return err
	}
	defer app.Close()

	srv := aura.NewServer(cfg.Addr, app.Handler())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	logger.Info("listening", "addr", cfg.Addr)
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
	return nil
}
