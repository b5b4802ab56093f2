package aura

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aura-platform/redishttp/cachehttp"
	"github.com/aura-platform/redishttp/middleware"
)

// maxJSONBody bounds every JSON request body the demo reads.
const maxJSONBody = 16 << 10

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// readJSON decodes a bounded JSON body into v, answering 400/413 itself and
// returning false when the body is unusable. The Content-Type is not
// checked: `curl -d '{...}'` labels JSON as a form, and the body either
// parses as the expected object or is refused.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			middleware.Error(w, r, http.StatusRequestEntityTooLarge, "request body too large")
			return false
		}
		middleware.Error(w, r, http.StatusBadRequest, "request body is not the expected JSON object")
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		middleware.Error(w, r, http.StatusBadRequest, "request body has trailing data")
		return false
	}
	return true
}

// parseCoord parses a coordinate and rounds it to 2 decimals (about 1 km),
// the precision of the cache key.
func parseCoord(s string, limit float64) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < -limit || f > limit {
		return 0, false
	}
	r := math.Round(f*100) / 100
	if r == 0 {
		r = 0 // no "-0" in keys
	}
	return r, true
}

// FormatCoord formats a rounded coordinate as it appears in cache keys.
func FormatCoord(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

func weatherParams(r *http.Request) (lat, lon float64, ok bool) {
	q := r.URL.Query()
	lat, ok1 := parseCoord(q.Get("lat"), 90)
	lon, ok2 := parseCoord(q.Get("lon"), 180)
	return lat, lon, ok1 && ok2
}

var topicRE = regexp.MustCompile(`^[\p{L}\p{N} _.-]{1,64}$`)

func newsTopic(r *http.Request) (string, bool) {
	t := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("topic")))
	if t == "" {
		t = "general"
	}
	return t, topicRE.MatchString(t)
}

var planRE = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)
var auraNameRE = regexp.MustCompile(`^[\p{L}\p{N} _.'-]{1,64}$`)

// storeUnavailable answers 503 with Retry-After when the data store failed
// or, with the breaker open, was not asked at all (fallback.ErrUnavailable):
// the demo's data lives only in Redis, so it is not served from memory.
func storeUnavailable(w http.ResponseWriter, r *http.Request, detail string) {
	middleware.WriteProblem(w, middleware.Problem{
		Status:     http.StatusServiceUnavailable,
		Detail:     detail,
		Instance:   r.URL.Path,
		RetryAfter: 1,
	})
}

func requireUser(w http.ResponseWriter, r *http.Request) (string, bool) {
	u := middleware.UserFromContext(r.Context())
	if u == "" {
		w.Header().Set("WWW-Authenticate", `X-User-ID realm="aura-demo"`)
		middleware.Error(w, r, http.StatusUnauthorized, "this route needs a user: send X-User-ID (demo identity)")
		return "", false
	}
	return u, true
}

func (a *App) handleWeather(w http.ResponseWriter, r *http.Request) {
	lat, lon, ok := weatherParams(r)
	if !ok {
		middleware.Error(w, r, http.StatusBadRequest, "lat must be in [-90, 90] and lon in [-180, 180]")
		return
	}
	wx, err := a.up.Weather(r.Context(), lat, lon)
	if err != nil {
		middleware.Error(w, r, http.StatusBadGateway, "weather service unavailable")
		return
	}
	writeJSON(w, http.StatusOK, wx)
}

func (a *App) handleNews(w http.ResponseWriter, r *http.Request) {
	topic, ok := newsTopic(r)
	if !ok {
		middleware.Error(w, r, http.StatusBadRequest, "topic must be 1-64 letters, digits, spaces or _.-")
		return
	}
	arts, err := a.up.News(r.Context(), topic)
	if err != nil {
		middleware.Error(w, r, http.StatusBadGateway, "news service unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"topic": topic, "articles": arts})
}

// Subscription is the body of GET /api/subscription.
type Subscription struct {
	UserID string `json:"userId"`
	Plan   string `json:"plan"`
	Status string `json:"status"`
}

func (a *App) handleGetSubscription(w http.ResponseWriter, r *http.Request) {
	user, ok := requireUser(w, r)
	if !ok {
		return
	}
	if err := a.up.Subscription(r.Context()); err != nil {
		middleware.Error(w, r, http.StatusBadGateway, "subscription service unavailable")
		return
	}
	plan, err := a.store.Plan(r.Context(), user)
	if err != nil {
		storeUnavailable(w, r, "subscription store unavailable")
		return
	}
	writeJSON(w, http.StatusOK, Subscription{UserID: user, Plan: plan, Status: "active"})
}

func (a *App) handlePutSubscription(w http.ResponseWriter, r *http.Request) {
	user, ok := requireUser(w, r)
	if !ok {
		return
	}
	var in struct {
		Plan string `json:"plan"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if !planRE.MatchString(in.Plan) {
		middleware.Error(w, r, http.StatusUnprocessableEntity, "plan must be 1-32 of a-z, 0-9 and -")
		return
	}
	if err := a.store.SetPlan(r.Context(), user, in.Plan); err != nil {
		storeUnavailable(w, r, "subscription store unavailable")
		return
	}
	writeJSON(w, http.StatusOK, Subscription{UserID: user, Plan: in.Plan, Status: "active"})
}

func (a *App) handleOAuth(w http.ResponseWriter, r *http.Request) {
	user, ok := requireUser(w, r)
	if !ok {
		return
	}
	conns, err := a.up.OAuthConnections(r.Context(), user)
	if err != nil {
		middleware.Error(w, r, http.StatusBadGateway, "oauth service unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"userId": user, "connections": conns})
}

// maxPrompt bounds AI prompts.
const maxPrompt = 4096

func (a *App) handleAI(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Prompt string `json:"prompt"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if strings.TrimSpace(in.Prompt) == "" || len(in.Prompt) > maxPrompt {
		middleware.Error(w, r, http.StatusUnprocessableEntity, "prompt must be 1-4096 bytes")
		return
	}
	ans, err := a.up.Complete(r.Context(), in.Prompt)
	if err != nil {
		middleware.Error(w, r, http.StatusBadGateway, "AI service unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"prompt": in.Prompt, "completion": ans})
}

func (a *App) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"status":  "ok",
		"backend": a.kit.Monitor().State().String(),
		"mode":    a.cfg.Redis.Mode(),
		"time":    time.Now().UTC().Format(time.RFC3339),
	})
}

func (a *App) handleInvalidate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Tags    []string `json:"tags"`
		Pattern string   `json:"pattern"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if (len(in.Tags) == 0) == (in.Pattern == "") {
		middleware.Error(w, r, http.StatusBadRequest, `send either {"tags": [...]} or {"pattern": "..."}`)
		return
	}
	var n int
	var err error
	if in.Pattern != "" {
		n, err = a.cache.InvalidatePattern(r.Context(), in.Pattern)
	} else {
		n, err = a.cache.InvalidateTags(r.Context(), in.Tags...)
	}
	if errors.Is(err, cachehttp.ErrBadPattern) {
		middleware.Error(w, r, http.StatusBadRequest, "invalid pattern")
		return
	}
	if err != nil {
		w.Header().Set("Retry-After", "1")
		middleware.Error(w, r, http.StatusServiceUnavailable, "invalidation did not complete")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"invalidated": n})
}
