package middleware_test

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aura-platform/redishttp/middleware"
)

func TestWriteProblem(t *testing.T) {
	tests := []struct {
		name       string
		p          middleware.Problem
		wantStatus int
		wantRetry  string
		wantJSON   map[string]any
	}{
		{"defaults", middleware.Problem{}, 500, "", map[string]any{"title": "Internal Server Error", "status": 500.0}},
		{"full", middleware.Problem{Type: "https://example.com/probs/limit", Title: "Slow down", Status: 429, Detail: "try later", Instance: "/api", RetryAfter: 1.2},
			429, "2", map[string]any{"type": "https://example.com/probs/limit", "title": "Slow down", "status": 429.0, "detail": "try later", "instance": "/api", "retryAfter": 1.2}},
		{"title from status", middleware.Problem{Status: 503}, 503, "", map[string]any{"title": "Service Unavailable", "status": 503.0}},
		{"retry exact second", middleware.Problem{Status: 429, RetryAfter: 3}, 429, "3", map[string]any{"title": "Too Many Requests", "status": 429.0, "retryAfter": 3.0}},
		{"retry under a second", middleware.Problem{Status: 429, RetryAfter: 0.001}, 429, "1", map[string]any{"title": "Too Many Requests", "status": 429.0, "retryAfter": 0.001}},
		{"negative retry omitted", middleware.Problem{Status: 429, RetryAfter: -5}, 429, "", map[string]any{"title": "Too Many Requests", "status": 429.0}},
		{"NaN retry omitted", middleware.Problem{Status: 429, RetryAfter: math.NaN()}, 429, "", map[string]any{"title": "Too Many Requests", "status": 429.0}},
		{"Inf retry capped", middleware.Problem{Status: 503, RetryAfter: math.Inf(1)}, 503, "1073741824", map[string]any{"title": "Service Unavailable", "status": 503.0, "retryAfter": 1073741824.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			w.Header().Set("X-RateLimit-Limit", "5")
			w.Header().Set("Content-Length", "999")
			middleware.WriteProblem(w, tt.p)
			res := w.Result()
			if res.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", res.StatusCode, tt.wantStatus)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q", ct)
			}
			if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("headers %v", res.Header)
			}
			if res.Header.Get("X-RateLimit-Limit") != "5" {
				t.Error("caller's header dropped")
			}
			if res.Header.Get("Content-Length") == "999" {
				t.Error("stale Content-Length kept")
			}
			if got := res.Header.Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After %q, want %q", got, tt.wantRetry)
			}
			var got map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", w.Body.String(), err)
			}
			if len(got) != len(tt.wantJSON) {
				t.Errorf("JSON %v, want %v", got, tt.wantJSON)
			}
			for k, v := range tt.wantJSON {
				if got[k] != v {
					t.Errorf("JSON[%s] = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

func TestError(t *testing.T) {
	w := httptest.NewRecorder()
	middleware.Error(w, httptest.NewRequest("GET", "/items/1?secret=x", nil), http.StatusConflict, "locked")
	var p middleware.Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if w.Code != 409 || p.Status != 409 || p.Title != "Conflict" || p.Detail != "locked" || p.Instance != "/items/1" {
		t.Errorf("%d %+v", w.Code, p)
	}
	if strings.Contains(w.Body.String(), "secret") {
		t.Error("query string leaked into the problem")
	}
}
