package aura

import (
	"container/list"
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
// With Redis, every call goes through the Kit's fallback.Monitor (Do): while
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

// fenceGrace is how long a deleted aura's fence record outlives it.
//
// A fence record (the last fencing token that wrote a name) only decides
// anything once the name is free again: while the aura exists, the name
// check refuses every other create of it anyway. After a delete it is what
// stops a stale lock holder (one whose lock expired while its write was in
// flight, holding an older token than the writer after it) from creating
// the name again once the newer holder's aura is gone. So a record cannot
// simply be removed with its aura: a stale write arriving after the delete
// would then pass. Instead the delete gives the record this expiry, in the
// same atomic step, and a new fenced create of the name makes it permanent
// again. A stale write can only be in flight for about as long as its
// request (the Redis command timeout, or a Redis pause that holds a sent
// command), far shorter than an hour; one that arrives later than that
// after the delete is no longer fenced. Records therefore grow with the
// live auras and the names deleted in the last hour, not with every name
// ever created.
const fenceGrace = time.Hour

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

// fenceKey is the key of the fence record of one of user's names: a key of
// its own, so that it can expire on its own (fenceGrace).
func (s *redisStore) fenceKey(user, nameKey string) string {
	return s.userKey("aura-fence", user) + ":" + middleware.KeyPart(nameKey)
}

// writeAura stores an aura unless a newer fencing token has written the
// same name already (0) or the user has an aura of that name (-1), all in
// one step. A fenced write makes the name's fence record permanent again
// (SET clears an expiry a delete gave it). The keys share the user's hash
// tag, so on a cluster they live on one slot and the script runs on one
// node.
//
//	KEYS[1] auras (id → record)   KEYS[2] names (name key → id)   KEYS[3] the name's fence record (token)
//	ARGV[1] id   ARGV[2] name key   ARGV[3] fencing token (0: none)   ARGV[4] record
var writeAura = redis.NewScript(`
local fence = tonumber(ARGV[3])
if fence > 0 then
  local last = tonumber(redis.call('GET', KEYS[3]) or '0')
  if fence <= last then return 0 end
end
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[1]) == 0 then return -1 end
if fence > 0 then redis.call('SET', KEYS[3], fence) end
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
		res, err = writeAura.Run(ctx, s.c, []string{s.userKey("auras", a.UserID), names, s.fenceKey(a.UserID, key)},
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

// deleteAura removes an aura, frees its name and starts the expiry of the
// name's fence record (fenceGrace), in one step. The caller read the record
// first to learn its name key (a script may only touch the keys it is
// given); a record never changes once written (every aura has a fresh id),
// so that name key is still the record's.
//
//	KEYS[1] auras   KEYS[2] names   KEYS[3] the name's fence record
//	ARGV[1] id   ARGV[2] name key   ARGV[3] fenceGrace in milliseconds
var deleteAura = redis.NewScript(`
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[2], ARGV[2])
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
end
return 1`)

func (s *redisStore) DeleteAura(ctx context.Context, user, id string) error {
	auras := s.userKey("auras", user)
	var v string
	err := s.mon.Do(ctx, func(ctx context.Context) error {
		var err error
		v, err = s.c.HGet(ctx, auras, id).Result()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return ErrAuraNotFound
	}
	if err != nil {
		return err
	}
	var a storedAura
	_ = json.Unmarshal([]byte(v), &a)
	key := a.NameKey
	if key == "" { // a record written before name keys were stored
		key = a.Name
	}
	var n int
	if err := s.mon.Do(ctx, func(ctx context.Context) error {
		var err error
		n, err = deleteAura.Run(ctx, s.c, []string{auras, s.userKey("aura-names", user), s.fenceKey(user, key)},
			id, key, fenceGrace.Milliseconds()).Int()
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
	mu       sync.Mutex
	now      func() time.Time
	plans    map[string]string
	auras    map[string]map[string]storedAura // user → id → aura
	names    map[string]map[string]string     // user → name key → id
	fences   map[string]fenceRecord           // user + "\x00" + name key → record
	expiring list.List                        // fenceExpiry, in the order the deletes happened
}

// fenceRecord is the last fencing token that wrote a name; expires is zero
// while the name's aura exists and fenceGrace after its delete otherwise.
type fenceRecord struct {
	token   int64
	expires time.Time
}

// fenceExpiry queues a record's expiry; a later create or delete of the
// name leaves a stale entry, recognised by expires no longer matching.
type fenceExpiry struct {
	key string
	at  time.Time
}

func newMemStore() *memStore {
	return &memStore{
		now:   time.Now,
		plans: map[string]string{}, auras: map[string]map[string]storedAura{},
		names: map[string]map[string]string{}, fences: map[string]fenceRecord{},
	}
}

// expireFences drops the fence records whose grace has passed. Every expiry
// is fenceGrace after its delete, so the queue is in expiry order and each
// call only looks at what is due (amortised O(1)). Called with s.mu held.
func (s *memStore) expireFences(now time.Time) {
	for el := s.expiring.Front(); el != nil; el = s.expiring.Front() {
		e := el.Value.(fenceExpiry)
		if now.Before(e.at) {
			return
		}
		s.expiring.Remove(el)
		if r, ok := s.fences[e.key]; ok && r.expires.Equal(e.at) {
			delete(s.fences, e.key)
		}
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
	s.expireFences(s.now())
	fk := a.UserID + "\x00" + key
	if fence > 0 && fence <= s.fences[fk].token {
		return ErrStaleFence
	}
	// Checked again under the same lock as the write: the last line of
	// defence, as the Redis store's script.
	if s.nameTaken(a.UserID, key) {
		return ErrAuraExists
	}
	if fence > 0 {
		s.fences[fk] = fenceRecord{token: fence}
	}
	if s.auras[a.UserID] == nil {
		s.auras[a.UserID] = map[string]storedAura{}
	}
	if s.names[a.UserID] == nil {
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
	now := s.now()
	s.expireFences(now)
	delete(s.auras[user], id)
	if len(s.auras[user]) == 0 {
		delete(s.auras, user)
	}
	if s.names[user][a.NameKey] == id {
		delete(s.names[user], a.NameKey)
		if len(s.names[user]) == 0 {
			delete(s.names, user)
		}
		// The name's fence record expires fenceGrace from now, in the same
		// step (see fenceGrace).
		fk := user + "\x00" + a.NameKey
		if r, ok := s.fences[fk]; ok {
			r.expires = now.Add(fenceGrace)
			s.fences[fk] = r
			s.expiring.PushBack(fenceExpiry{key: fk, at: r.expires})
		}
	}
	return nil
}
