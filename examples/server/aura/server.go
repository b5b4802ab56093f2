package aura

import (
	"net/http"
	"time"
)

// NewServer returns an http.Server for h with every timeout set, so slow
// clients (slowloris) and huge headers cannot pin memory or goroutines.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}
