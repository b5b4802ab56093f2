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
type Store interface {
	Plan(ctx context.Context, user string) (string, error)
	SetPlan(ctx context.Context, user, plan string) error
	// CreateAura checks that the name is free, pays the simulated slow
	// write, then writes, guarded by a fencing token (0 = unfenced). The
	// check and the write are deliberately not atomic, as in the seed
	// service: the lock around the route is what prevents duplicates.
	CreateAura(ctx context.Context, a Aura, fence int64, slow time.Duration) error
	Auras(ctx context.Context, user string) ([]Aura, error)
	DeleteAura(ctx context.Context, user, id string) error
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
}

// storeTimeout bounds each call to the data store, so a hung Redis costs a
// request at most this long per call (the client's own read timeout is 3s).
const storeTimeout = time.Second

func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, storeTimeout)
}

// userKey hash-tags every key of one user so they live on one cluster slot.
func (s *redisStore) userKey(kind, user string) string {
	return s.prefix + "data:{" + middleware.KeyPart(user) + "}:" + kind
}

func (s *redisStore) Plan(ctx context.Context, user string) (string, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	p, err := s.c.Get(ctx, s.userKey("plan", user)).Result()
	if errors.Is(err, redis.Nil) {
		return "free", nil
	}
	return p, err
}

func (s *redisStore) SetPlan(ctx context.Context, user, plan string) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	return s.c.Set(ctx, s.userKey("plan", user), plan, 0).Err()
}

// writeAura writes the aura unless a newer fencing token has written the
// same name already.
var writeAura = redis.NewScript(`
local fence = tonumber(ARGV[3])
if fence > 0 then
  local last = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0')
  if fence <= last then return 0 end
  redis.call('HSET', KEYS[3], ARGV[2], fence)
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return 1`)

func (s *redisStore) CreateAura(ctx context.Context, a Aura, fence int64, slow time.Duration) error {
	names := s.userKey("aura-names", a.UserID)
	cctx, cancel := bounded(ctx)
	exists, err := s.c.HExists(cctx, names, a.Name).Result()
	cancel()
	if err != nil {
		return err
	}
	if exists {
		return ErrAuraExists
	}
	if err := sleepCtx(ctx, slow); err != nil {
		return err
	}
	body, _ := json.Marshal(a)
	ctx, cancel = bounded(ctx)
	defer cancel()
	ok, err := writeAura.Run(ctx, s.c, []string{s.userKey("auras", a.UserID), names, s.userKey("aura-fence", a.UserID)},
		a.ID, a.Name, fence, body).Int()
	if err != nil {
		return err
	}
	if ok == 0 {
		return ErrStaleFence
	}
	return nil
}

func (s *redisStore) Auras(ctx context.Context, user string) ([]Aura, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	m, err := s.c.HGetAll(ctx, s.userKey("auras", user)).Result()
	if err != nil {
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

var deleteAura = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local a = cjson.decode(v)
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HGET', KEYS[2], a['name']) == ARGV[1] then redis.call('HDEL', KEYS[2], a['name']) end
return 1`)

func (s *redisStore) DeleteAura(ctx context.Context, user, id string) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	n, err := deleteAura.Run(ctx, s.c, []string{s.userKey("auras", user), s.userKey("aura-names", user)}, id).Int()
	if err != nil {
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
	auras  map[string]map[string]Aura // user → id → aura
	fences map[string]int64           // user + "\x00" + name → last token
}

func newMemStore() *memStore {
	return &memStore{plans: map[string]string{}, auras: map[string]map[string]Aura{}, fences: map[string]int64{}}
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

func (s *memStore) nameTaken(user, name string) bool {
	for _, a := range s.auras[user] {
		if a.Name == name {
			return true
		}
	}
	return false
}

func (s *memStore) CreateAura(ctx context.Context, a Aura, fence int64, slow time.Duration) error {
	s.mu.Lock()
	taken := s.nameTaken(a.UserID, a.Name)
	s.mu.Unlock()
	if taken {
		return ErrAuraExists
	}
	if err := sleepCtx(ctx, slow); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fk := a.UserID + "\x00" + a.Name
	if fence > 0 {
		if fence <= s.fences[fk] {
			return ErrStaleFence
		}
		s.fences[fk] = fence
	}
	if s.auras[a.UserID] == nil {
		s.auras[a.UserID] = map[string]Aura{}
	}
	s.auras[a.UserID][a.ID] = a
	return nil
}

func (s *memStore) Auras(_ context.Context, user string) ([]Aura, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Aura, 0, len(s.auras[user]))
	for _, a := range s.auras[user] {
		out = append(out, a)
	}
	sortAuras(out)
	return out, nil
}

func (s *memStore) DeleteAura(_ context.Context, user, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.auras[user][id]; !ok {
		return ErrAuraNotFound
	}
	delete(s.auras[user], id)
	return nil
}
