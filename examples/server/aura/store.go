package aura

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

// Errors returned by Store.
var (
	ErrAuraExists   = errors.New("aura: an aura with this name exists")
	ErrAuraNotFound = errors.New("aura: no such aura")
	ErrStaleFence   = errors.New("aura: stale fencing token")
)

// Aura is one user-created item.
type Aura struct {
	ID        string    `json:"id"`
	UserID    string    `json:"userId"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

// Store keeps the demo's own data: subscription plans and auras. With Redis
// configured it lives in Redis so that every instance shares it; in embedded
// mode, in memory.
//
// With Redis, every call goes through the instance's fallback.Monitor: while
// the breaker is open a call fails at once with fallback.ErrUnavailable
// instead of waiting for a hung server, and its outcome feeds the breaker
// like any other Redis call of the instance.
type Store interface {
	Plan(ctx context.Context, user string) (string, error)
	SetPlan(ctx context.Context, user, plan string) error
	// CreateAura checks that the name is free, pays the simulated slow
	// write, then writes, guarded by a fencing token (0 = unfenced). The
	// write itself refuses a name whose AuraNameKey the user already has,
	// in the same atomic step that stores the aura (ErrAuraExists): the
	// lock around the route keeps concurrent creates from racing, and this
	// check is the last line of defence when the lock cannot (a lock lost
	// mid-write, a write that skipped it).
	CreateAura(ctx context.Context, a Aura, fence int64, slow time.Duration) error
	Auras(ctx context.Context, user string) ([]Aura, error)
	DeleteAura(ctx context.Context, user, id string) error
}

// storedAura is an aura as the stores keep it: with the key its name
// compares by, so that a delete frees exactly the name it took.
type storedAura struct {
	Aura
	NameKey string `json:"nameKey"`
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ---- Redis ----

type redisStore struct {
	c      redis.UniversalClient
	prefix string
	mon    *fallback.Monitor // bounds every call (CommandTimeout) and fails fast while the breaker is open
}

// userKey hash-tags every key of one user so they live on one cluster slot.
func (s *redisStore) userKey(kind, user string) string {
	return s.prefix + "data:{" + middleware.KeyPart(user) + "}:" + kind
}

func (s *redisStore) Plan(ctx context.Context, user string) (string, error) {
	plan := "free"
	err := s.mon.Do(ctx, func(ctx context.Context) error {
		p, err := s.c.Get(ctx, s.userKey("plan", user)).Result()
		if err == nil {
			plan = p
		}
		return err
	})
	if errors.Is(err, redis.Nil) {
		return "free", nil
	}
	return plan, err
}

func (s *redisStore) SetPlan(ctx context.Context, user, plan string) error {
	return s.mon.Do(ctx, func(ctx context.Context) error {
		return s.c.Set(ctx, s.userKey("plan", user), plan, 0).Err()
	})
}

// writeAura stores an aura unless a newer fencing token has written the
// same name already (0) or the user has an aura of that name (-1), all in
// one step. The keys share the user's hash tag, so on a cluster they live
// on one slot and the script runs on one node.
//
//	KEYS[1] auras (id → record)   KEYS[2] names (name key → id)   KEYS[3] fences (name key → token)
//	ARGV[1] id   ARGV[2] name key   ARGV[3] fencing token (0: none)   ARGV[4] record
var writeAura = redis.NewScript(`
local fence = tonumber(ARGV[3])
if fence > 0 then
  local last = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0')
  if fence <= last then return 0 end
end
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[1]) == 0 then return -1 end
if fence > 0 then redis.call('HSET', KEYS[3], ARGV[2], fence) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
return 1`)

func (s *redisStore) CreateAura(ctx context.Context, a Aura, fence int64, slow time.Duration) error {
	key := AuraNameKey(a.Name)
	names := s.userKey("aura-names", a.UserID)
	// A cheap early answer for the common case, which spares the slow
	// write; the write below checks again, atomically.
	var exists bool
	if err := s.mon.Do(ctx, func(ctx context.Context) error {
		var err error
		exists, err = s.c.HExists(ctx, names, key).Result()
		return err
	}); err != nil {
		return err
	}
	if exists {
		return ErrAuraExists
	}
	if err := sleepCtx(ctx, slow); err != nil {
		return err
	}
	body, _ := json.Marshal(storedAura{Aura: a, NameKey: key})
	var res int
	if err := s.mon.Do(ctx, func(ctx context.Context) error {
		var err error
		res, err = writeAura.Run(ctx, s.c, []string{s.userKey("auras", a.UserID), names, s.userKey("aura-fence", a.UserID)},
			a.ID, key, fence, body).Int()
		return err
	}); err != nil {
		return err
	}
	switch res {
	case 0:
		return ErrStaleFence
	case -1:
		return ErrAuraExists
	}
	return nil
}

func (s *redisStore) Auras(ctx context.Context, user string) ([]Aura, error) {
	var m map[string]string
	if err := s.mon.Do(ctx, func(ctx context.Context) error {
		var err error
		m, err = s.c.HGetAll(ctx, s.userKey("auras", user)).Result()
		return err
	}); err != nil {
		return nil, err
	}
	out := make([]Aura, 0, len(m))
	for _, v := range m {
		var a Aura
		if json.Unmarshal([]byte(v), &a) == nil {
			out = append(out, a)
		}
	}
	sortAuras(out)
	return out, nil
}

// deleteAura removes an aura and frees its name (by the name key stored
// with it; records without one by their name).
var deleteAura = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local a = cjson.decode(v)
local k = a['nameKey'] or a['name']
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HGET', KEYS[2], k) == ARGV[1] then redis.call('HDEL', KEYS[2], k) end
return 1`)

func (s *redisStore) DeleteAura(ctx context.Context, user, id string) error {
	var n int
	if err := s.mon.Do(ctx, func(ctx context.Context) error {
		var err error
		n, err = deleteAura.Run(ctx, s.c, []string{s.userKey("auras", user), s.userKey("aura-names", user)}, id).Int()
		return err
	}); err != nil {
		return err
	}
	if n == 0 {
		return ErrAuraNotFound
	}
	return nil
}

func sortAuras(a []Aura) {
	sort.Slice(a, func(i, j int) bool {
		if !a[i].CreatedAt.Equal(a[j].CreatedAt) {
			return a[i].CreatedAt.Before(a[j].CreatedAt)
		}
		return a[i].ID < a[j].ID
	})
}

// ---- memory ----

type memStore struct {
	mu     sync.Mutex
	plans  map[string]string
	auras  map[string]map[string]storedAura // user → id → aura
	names  map[string]map[string]string     // user → name key → id
	fences map[string]int64                 // user + "\x00" + name key → last token
}

func newMemStore() *memStore {
	return &memStore{
		plans: map[string]string{}, auras: map[string]map[string]storedAura{},
		names: map[string]map[string]string{}, fences: map[string]int64{},
	}
}

func (s *memStore) Plan(_ context.Context, user string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.plans[user]; ok {
		return p, nil
	}
	return "free", nil
}

func (s *memStore) SetPlan(_ context.Context, user, plan string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plans[user] = plan
	return nil
}

func (s *memStore) nameTaken(user, key string) bool {
	_, ok := s.names[user][key]
	return ok
}

func (s *memStore) CreateAura(ctx context.Context, a Aura, fence int64, slow time.Duration) error {
	key := AuraNameKey(a.Name)
	s.mu.Lock()
	taken := s.nameTaken(a.UserID, key)
	s.mu.Unlock()
	if taken {
		return ErrAuraExists
	}
	if err := sleepCtx(ctx, slow); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fk := a.UserID + "\x00" + key
	if fence > 0 && fence <= s.fences[fk] {
		return ErrStaleFence
	}
	// Checked again under the same lock as the write: the last line of
	// defence, as the Redis store's script.
	if s.nameTaken(a.UserID, key) {
		return ErrAuraExists
	}
	if fence > 0 {
		s.fences[fk] = fence
	}
	if s.auras[a.UserID] == nil {
		s.auras[a.UserID] = map[string]storedAura{}
		s.names[a.UserID] = map[string]string{}
	}
	s.auras[a.UserID][a.ID] = storedAura{Aura: a, NameKey: key}
	s.names[a.UserID][key] = a.ID
	return nil
}

func (s *memStore) Auras(_ context.Context, user string) ([]Aura, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Aura, 0, len(s.auras[user]))
	for _, a := range s.auras[user] {
		out = append(out, a.Aura)
	}
	sortAuras(out)
	return out, nil
}

func (s *memStore) DeleteAura(_ context.Context, user, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.auras[user][id]
	if !ok {
		return ErrAuraNotFound
	}
	delete(s.auras[user], id)
	if s.names[user][a.NameKey] == id {
		delete(s.names[user], a.NameKey)
	}
	return nil
}
