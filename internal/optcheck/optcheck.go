// Package optcheck holds the option checks every constructor of the toolkit
// applies, so each rule is written once and each error names one field.
package optcheck

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// NilClient reports whether c is a nil interface or an interface holding a
// nil pointer (a `var c *redis.Client` passed as redis.UniversalClient).
func NilClient(c any) bool {
	if c == nil {
		return true
	}
	v := reflect.ValueOf(c)
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		return v.IsNil()
	}
	return false
}

// TypedNil reports whether c is a non-nil interface holding a nil pointer:
// the mistake the constructors reject, as opposed to a nil interface, which
// several of them accept as embedded mode.
func TypedNil(c any) bool { return c != nil && NilClient(c) }

// TypedNilError returns the error for a typed-nil client, wrapping sentinel
// and naming the field (e.g. "client").
func TypedNilError(sentinel error, field string, c any) error {
	return fmt.Errorf("%w: %s is a nil %T; pass a connected client, or an untyped nil for embedded mode", sentinel, field, c)
}

// Client returns TypedNilError when c is a typed nil, nil otherwise.
func Client(sentinel error, field string, c any) error {
	if TypedNil(c) {
		return TypedNilError(sentinel, field, c)
	}
	return nil
}

// Duration rejects a negative duration, naming field.
func Duration(sentinel error, field string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%w: %s is negative (%v)", sentinel, field, d)
	}
	return nil
}

// NonNegative rejects a negative count or size, naming field.
func NonNegative[T ~int | ~int32 | ~int64](sentinel error, field string, n T) error {
	if n < 0 {
		return fmt.Errorf("%w: %s is negative (%d)", sentinel, field, n)
	}
	return nil
}

// Prefix rejects a key prefix that would break Redis Cluster hash tags or
// glob-based clearing: braces, glob characters, backslashes and control
// bytes. The empty prefix passes (callers apply their default).
func Prefix(sentinel error, field, p string) error {
	if strings.ContainsAny(p, "{}*?[]\\") || strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("%w: %s %q must not contain braces, glob characters, backslashes or control bytes", sentinel, field, p)
	}
	return nil
}

// First returns the first non-nil error, so a constructor can list its
// checks in field order and report the first bad field alone.
func First(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
