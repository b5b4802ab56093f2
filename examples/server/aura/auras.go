package aura

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
)

// The aura routes: POST /api/auras runs under the create lock
// (lockhttp, keyed by user and name), and both mutations invalidate the
// user's cached list through cache.InvalidateOnSuccess (see routes).

func (a *App) handleCreateAura(w http.ResponseWriter, r *http.Request) {
	user, ok := requireUser(w, r)
	if !ok {
		return
	}
	var in createAuraRequest
	if !readJSON(w, r, &in) {
		return
	}
	name, _, ok := auraName(in.Name)
	if !ok {
		middleware.Error(w, r, http.StatusUnprocessableEntity, "name must be 1-64 letters, digits, spaces or _.'-")
		return
	}
	fence, _ := lockhttp.Fence(r.Context())
	au := Aura{ID: newID(), UserID: user, Name: name, CreatedAt: time.Now().UTC()}
	slow := time.Duration(float64(200*time.Millisecond) * a.cfg.LatencyScale)
	err := a.store.CreateAura(r.Context(), au, fence, slow)
	switch {
	case errors.Is(err, fallback.ErrUnavailable):
		// The breaker was open: nothing was sent, so a retry may run again.
		lockhttp.NotApplied(r.Context())
	case err != nil && !errors.Is(err, ErrAuraExists) && !errors.Is(err, ErrStaleFence):
		// The write may have reached Redis before the error (a timeout
		// while Redis is paused): answering 503, "not done", could be
		// false. Learn the outcome instead.
		err = a.confirmCreate(r.Context(), au, err)
	}
	switch {
	case errors.Is(err, ErrAuraExists), errors.Is(err, ErrStaleFence):
		middleware.Error(w, r, http.StatusConflict, "an aura with this name exists")
		return
	case err != nil:
		storeUnavailable(w, r, "aura store unavailable")
		return
	}
	w.Header().Set("Location", "/api/auras/"+au.ID)
	writeJSON(w, http.StatusCreated, au)
}

// confirmCreate learns whether au was stored after CreateAura failed with
// cause, polling the store (through the breaker) for up to 5 s: nil when
// au is there, ErrAuraExists when another aura holds its name, cause when
// the store holds neither (then it tells the lock, NotApplied, so a retry
// runs at once) or did not answer in time (the outcome stays unknown, and
// the lock keeps the request's Idempotency-Key claim).
func (a *App) confirmCreate(ctx context.Context, au Aura, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		if list, err := a.store.Auras(ctx, au.UserID); err == nil {
			for _, x := range list {
				switch {
				case x.ID == au.ID:
					return nil
				case AuraNameKey(x.Name) == AuraNameKey(au.Name):
					return ErrAuraExists
				}
			}
			lockhttp.NotApplied(ctx)
			return cause
		}
		select {
		case <-ctx.Done():
			return cause
		case <-time.After(wait):
		}
	}
}

func (a *App) handleListAuras(w http.ResponseWriter, r *http.Request) {
	user, ok := requireUser(w, r)
	if !ok {
		return
	}
	list, err := a.store.Auras(r.Context(), user)
	if err != nil {
		storeUnavailable(w, r, "aura store unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"userId": user, "auras": list})
}

func (a *App) handleDeleteAura(w http.ResponseWriter, r *http.Request) {
	user, ok := requireUser(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	err := a.store.DeleteAura(r.Context(), user, id)
	switch {
	case errors.Is(err, ErrAuraNotFound):
		middleware.Error(w, r, http.StatusNotFound, "no such aura")
	case err != nil:
		storeUnavailable(w, r, "aura store unavailable")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
