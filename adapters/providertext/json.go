package providertext

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"

	"github.com/socialops/socialops/domain"
)

// Present reports whether a raw JSON value is there: neither absent (empty)
// nor null.
func Present(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && string(raw) != "null"
}

// DecodeObject decodes body, a JSON object with optional surrounding white
// space, into v and returns body trimmed. An empty body or one that is not an
// object is domain.ErrInvalidPayload; a decoding error is mapped by
// DecodeError, with what naming the expected document.
func DecodeObject(body []byte, v any, what string) ([]byte, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, domain.Errorf(domain.ErrInvalidPayload, "the body is empty")
	}
	if trimmed[0] != '{' {
		return nil, domain.Errorf(domain.ErrInvalidPayload, "the body must be a JSON object")
	}
	if err := json.Unmarshal(trimmed, v); err != nil {
		return nil, DecodeError(err, what)
	}
	return trimmed, nil
}

// DecodeError maps a json.Unmarshal error to a *domain.Error: a value of the
// wrong type is domain.ErrInvalidField naming its path ("message.chat.id must
// be an integer, not string"), invalid JSON is domain.ErrInvalidPayload with
// its byte offset, and anything else is domain.ErrInvalidPayload saying the
// body is not a valid what ("Telegram update", "GitHub webhook payload").
func DecodeError(err error, what string) error {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) && typ.Field != "" {
		return domain.Errorf(domain.ErrInvalidField, "%s must be %s, not %s", typ.Field, jsonKind(typ.Type), typ.Value)
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return domain.Errorf(domain.ErrInvalidPayload, "the body is not valid JSON (at byte %d)", syntax.Offset)
	}
	return domain.Errorf(domain.ErrInvalidPayload, "the body is not a valid %s", what)
}

// jsonKind names the JSON kind a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another type"
}
