package lockhttp_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/alicebob/miniredis/v2"
	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

// An order-creation route: locked per (user, order name), deduplicated by
// Idempotency-Key. The retry is replayed byte for byte; the same key with
// another body is refused.
func Example() {
	srv, _ := miniredis.Run()
	defer srv.Close()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()

	locks, err := lockhttp.New(rdb, lockhttp.Options{
		Route: "create_order",
		Key:   middleware.Join(middleware.ByUser(), lockhttp.JSONField("name", 0)),
	})
	if err != nil {
		panic(err)
	}
	defer locks.Close()
	created := 0
	create := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		created++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%d}`, created)
	})
	h := middleware.TrustUserHeader("X-User")(locks.Handler(create))

	send := func(body string) {
		r := httptest.NewRequest(http.MethodPost, "/api/orders", strings.NewReader(body))
		r.Header.Set("X-User", "alice")
		r.Header.Set("Idempotency-Key", `"3f1c0a"`)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get("Idempotent-Replayed"), strings.TrimSpace(w.Body.String()))
	}
	send(`{"name":"blue"}`)
	send(`{"name":"blue"}`) // a retry
	send(`{"name":"red"}`)  // the same key for another request
	fmt.Println("created:", created)
	// Output:
	// 201  {"id":1}
	// 201 true {"id":1}
	// 422  {"title":"Unprocessable Entity","status":422,"detail":"this Idempotency-Key was already used with a different request","instance":"/api/orders"}
	// created: 1
}

// errStaleToken is the store's refusal of a write with an older fencing
// token than one it has already accepted for the resource.
var errStaleToken = errors.New("stale fencing token")

// FencedStore is a store that rejects stale fencing tokens: it remembers,
// per resource, the highest token that wrote and refuses lower ones. A
// handler whose lock expired under it (a long GC pause, a partition) still
// holds its old token, so its late write is refused instead of overwriting
// the work of the request that took the lock next. In a database the same
// check is a conditional write: UPDATE ... SET v = $1, token = $2 WHERE id =
// $3 AND token <= $2.
type FencedStore struct {
	mu    sync.Mutex
	token map[string]int64
	value map[string]string
}

// Put writes value for resource if token is not older than the last writer's.
func (s *FencedStore) Put(resource string, token int64, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token < s.token[resource] {
		return errStaleToken
	}
	s.token[resource], s.value[resource] = token, value
	return nil
}

// A handler passes its fencing token to the store with every write.
func Example_fencedStore() {
	srv, _ := miniredis.Run()
	defer srv.Close()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()

	store := &FencedStore{token: map[string]int64{}, value: map[string]string{}}
	locks, _ := lockhttp.New(rdb, lockhttp.Options{Key: middleware.ByQuery("id")})
	defer locks.Close()
	var tokens []int64
	h := locks.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, _ := lockhttp.Fence(r.Context())
		tokens = append(tokens, token)
		if err := store.Put(r.URL.Query().Get("id"), token, r.URL.Query().Get("v")); err != nil {
			middleware.Error(w, r, http.StatusConflict, "stale write refused")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	for _, v := range []string{"first", "second"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPut, "/order?id=7&v="+v, nil))
	}
	fmt.Println("tokens rise:", tokens[1] > tokens[0])

	// The first holder wakes up late and writes with its old token.
	err := store.Put("7", tokens[0], "late")
	fmt.Println(errors.Is(err, errStaleToken), store.value["7"])
	// Output:
	// tokens rise: true
	// true second
}

// Contention answers 409 with Retry-After, the lock's remaining time.
func ExampleOptions_failFast() {
	srv, _ := miniredis.Run()
	defer srv.Close()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()

	locks, _ := lockhttp.New(rdb, lockhttp.Options{Key: middleware.Static("report"), TTL: 5e9})
	defer locks.Close()
	started, finish := make(chan struct{}), make(chan struct{})
	h := locks.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-finish
	}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/report", nil))
	}()
	<-started
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/report", nil))
	fmt.Println(w.Code, w.Header().Get("Retry-After"), w.Header().Get("Content-Type"))
	close(finish)
	<-done
	// Output:
	// 409 5 application/problem+json
}

// Embedded mode: no Redis, a process-local lock, chosen explicitly with
// OnFailure: fallback.UseMemory. Without it a nil client is refused.
func ExampleNew_embedded() {
	locks, err := lockhttp.New(nil, lockhttp.Options{OnFailure: fallback.UseMemory})
	if err != nil {
		panic(err)
	}
	defer locks.Close()
	h := locks.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, fenced := lockhttp.Fence(r.Context())
		fmt.Println("fenced:", fenced)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil))

	_, err = lockhttp.New(nil, lockhttp.Options{})
	fmt.Println(errors.Is(err, lockhttp.ErrInvalidOptions))
	// Output:
	// fenced: true
	// true
}

// JSONKey decodes the body as the handler does (into the same struct, with
// encoding/json's case-insensitive field names and last-duplicate-wins) and
// normalises the name as the handler does before it writes, so every
// variant of one name takes the same lock.
func ExampleJSONKey() {
	type createOrder struct {
		Name string `json:"name"`
	}
	key := lockhttp.JSONKey(1<<20, func(in createOrder) (string, error) {
		name := strings.ToLower(strings.TrimSpace(in.Name))
		if name == "" {
			return "", errors.New("no name")
		}
		return name, nil
	})
	for _, body := range []string{`{"name":"dup"}`, `{"NAME":" Dup "}`, `{"name":"x","name":"dup"}`} {
		r := httptest.NewRequest(http.MethodPost, "/api/orders", strings.NewReader(body))
		k, err := key(r)
		var in createOrder
		_ = json.NewDecoder(r.Body).Decode(&in) // the handler still reads the whole body
		fmt.Printf("%-28s locks %s (err %v), handler sees %q\n", body, k, err, in.Name)
	}
	// Output:
	// {"name":"dup"}               locks j:dup (err <nil>), handler sees "dup"
	// {"NAME":" Dup "}             locks j:dup (err <nil>), handler sees " Dup "
	// {"name":"x","name":"dup"}    locks j:dup (err <nil>), handler sees "dup"
}
