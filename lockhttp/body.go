package lockhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode"

	"github.com/aura-platform/redishttp/middleware"
)

// ErrBodyTooLarge is returned by the key functions of this package
// (JSONField, JSONKey) for a request body over their byte limit, and is
// answered 413 Content Too Large by a Locker, without running the handler.
// The body is left whole for the handler either way, so a caller that
// ignores the error (a cache that bypasses on key errors) still serves it.
var ErrBodyTooLarge = errors.New("lockhttp: request body too large")

// defaultMaxBody is the body limit of JSONField and JSONKey when maxBytes
// is zero or negative.
const defaultMaxBody = 1 << 20

// readBody reads r's body (at most max bytes) and puts a replay of the whole
// body back, so the handler still reads every byte of it:
//
//   - within max: the bytes read, replayable through r.GetBody too;
//   - over max: ErrBodyTooLarge, and r.Body replays the bytes read followed
//     by the unread rest of the original body, which is not closed;
//   - a read error: the error, and r.Body replays the bytes read followed by
//     the original body (which reports its error again).
//
// An *http.MaxBytesError (a server-side limit) counts as ErrBodyTooLarge.
func readBody(r *http.Request, max int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	orig := r.Body
	b, err := io.ReadAll(io.LimitReader(orig, max+1))
	if err != nil || int64(len(b)) > max {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), orig), orig}
		var mbe *http.MaxBytesError
		switch {
		case err == nil:
			return nil, fmt.Errorf("%w: over %d bytes", ErrBodyTooLarge, max)
		case errors.As(err, &mbe):
			return nil, fmt.Errorf("%w: over %d bytes", ErrBodyTooLarge, mbe.Limit)
		}
		return nil, err
	}
	// The whole body is read: the replay takes its place, and closing it
	// still closes the original.
	r.Body = struct {
		io.Reader
		io.Closer
	}{bytes.NewReader(b), orig}
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return b, nil
}

// decodeBody reads r's body (at most max bytes; the body stays whole for the
// handler) and decodes it into v with json.Unmarshal. A body over max gives
// ErrBodyTooLarge; an unreadable or undecodable body gives an error
// wrapping middleware.ErrNoKey.
func decodeBody(r *http.Request, max int64, v any) error {
	if max <= 0 {
		max = defaultMaxBody
	}
	b, err := readBody(r, max)
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		return err
	case err != nil:
		return fmt.Errorf("%w: reading the body: %w", middleware.ErrNoKey, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %w", middleware.ErrNoKey, err)
	}
	return nil
}

// JSONKey keys a request by what its JSON body decodes to: it reads the body
// (at most maxBytes, 1 MiB when maxBytes <= 0), decodes it into a T exactly
// as json.Unmarshal does (field names match case-insensitively, the last of
// duplicate fields wins, unknown fields are ignored), and calls key, which
// returns the key for that value. The result is "j:" + key escaped with
// middleware.KeyPart.
//
// Decode into the type your handler decodes into and normalise in key the
// way your handler does before it writes (trim, lower-case, Unicode
// normalisation), so the lock covers exactly what the handler writes: then
// {"name":"Dup "}, {"NAME":"dup"} and {"name":"x","name":"dup"} all lock the
// same key. A handler that normalises more than key does can write the same
// record under two locks.
//
// The handler always reads the whole body, unclosed, whatever happens here.
// A body over maxBytes gives ErrBodyTooLarge (413 from a Locker); a body that
// is not valid JSON for T, a key that returns "", or a key that fails gives
// an error wrapping middleware.ErrNoKey (and key's error, so
// middleware.ErrNoUser still answers 401).
func JSONKey[T any](maxBytes int64, key func(T) (string, error)) middleware.KeyFunc {
	return func(r *http.Request) (string, error) {
		var v T
		if err := decodeBody(r, maxBytes, &v); err != nil {
			return "", err
		}
		k, err := key(v)
		switch {
		case err != nil:
			return "", fmt.Errorf("%w: %w", middleware.ErrNoKey, err)
		case k == "":
			return "", middleware.ErrNoKey
		}
		return "j:" + middleware.KeyPart(k), nil
	}
}

// JSONField keys a request by a top-level field of its JSON object body
// ("j:<value>", escaped with middleware.KeyPart), reading at most maxBytes
// (1 MiB when maxBytes <= 0) and leaving the whole body in place for the
// handler. The field is found as encoding/json finds a struct field tagged
// `json:"<field>"`: names match case-insensitively ({"NAME":...} is field
// "name") and the last of duplicate fields wins. Strings are used as they
// are (no trimming or case folding: use JSONKey to normalise) and numbers
// and booleans by their text.
//
// A body over maxBytes gives ErrBodyTooLarge (413 from a Locker). A missing,
// empty, null or non-scalar field, a body that is not a JSON object, or a
// field name that cannot be a struct tag (empty, or containing a comma, a
// quote or a backslash) gives an error wrapping middleware.ErrNoKey. Join it
// with middleware.ByUser to lock "this user's item named X".
func JSONField(field string, maxBytes int64) middleware.KeyFunc {
	if !validTagName(field) {
		return func(*http.Request) (string, error) {
			return "", fmt.Errorf("%w: JSONField %q cannot be a JSON struct tag", middleware.ErrNoKey, field)
		}
	}
	typ := reflect.StructOf([]reflect.StructField{{
		Name: "V",
		Type: reflect.TypeFor[json.RawMessage](),
		Tag:  reflect.StructTag(`json:` + strconv.Quote(field)),
	}})
	return func(r *http.Request) (string, error) {
		p := reflect.New(typ)
		if err := decodeBody(r, maxBytes, p.Interface()); err != nil {
			return "", err
		}
		raw := p.Elem().Field(0).Bytes()
		if len(raw) == 0 {
			return "", middleware.ErrNoKey
		}
		var v any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return "", fmt.Errorf("%w: %w", middleware.ErrNoKey, err)
		}
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case json.Number:
			s = x.String()
		case bool:
			s = strconv.FormatBool(x)
		}
		if s == "" {
			return "", middleware.ErrNoKey
		}
		return "j:" + middleware.KeyPart(s), nil
	}
}

// validTagName reports whether encoding/json uses name, as the name in a
// struct tag, for the field (it ignores an invalid name and falls back to
// the Go field name). It mirrors encoding/json's own check.
func validTagName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}
