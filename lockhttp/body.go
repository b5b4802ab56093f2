package lockhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/aura-platform/redishttp/middleware"
)

var errBodyTooLarge = errors.New("lockhttp: request body too large")

// readBody reads r's body (at most max bytes) and puts an unread copy back,
// so the handler still sees all of it.
func readBody(r *http.Request, max int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	_ = r.Body.Close()
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, errBodyTooLarge
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return b, nil
}

// JSONField keys a request by a top-level field of its JSON object body
// ("j:<value>", escaped with middleware.KeyPart), reading at most maxBytes
// (1 MiB when maxBytes <= 0) and leaving the body in place for the handler.
// Strings are used as they are and numbers by their text; a missing,
// empty, null or non-scalar field, or a body that is not a JSON object,
// yields middleware.ErrNoKey. Join it with middleware.ByUser to lock
// "this user's item named X".
func JSONField(field string, maxBytes int64) middleware.KeyFunc {
	if maxBytes <= 0 {
		maxBytes = 1 << 20
	}
	return func(r *http.Request) (string, error) {
		b, err := readBody(r, maxBytes)
		if err != nil {
			return "", middleware.ErrNoKey
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil {
			return "", middleware.ErrNoKey
		}
		raw, ok := obj[field]
		if !ok {
			return "", middleware.ErrNoKey
		}
		var v any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return "", middleware.ErrNoKey
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
