// Package httpapi holds the conventions Arbiter's JSON APIs share (the
// admin API and the simulator's dashboard): seed 002's response envelope,
// query parameters that report every bad field at once, pagination, and
// strict JSON request bodies.
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Envelope is seed 002's response envelope: {"success":true,"data":…} or
// {"success":false,"error":{"message":…,"fields":{…}}}.
type Envelope struct {
	Success bool   `json:"success"`
	Data    any    `json:"data,omitempty"`
	Message string `json:"message,omitempty"`
	Error   *Error `json:"error,omitempty"`
}

// Error is a failure: a message and, for bad input, each offending field.
type Error struct {
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// WriteData answers success with data.
func WriteData(w http.ResponseWriter, status int, data any) {
	WriteEnvelope(w, status, Envelope{Success: true, Data: data})
}

// WriteMessage answers success with data and a message for people, as
// seed 002 does for creations and deletions.
func WriteMessage(w http.ResponseWriter, status int, data any, msg string) {
	WriteEnvelope(w, status, Envelope{Success: true, Data: data, Message: msg})
}

// WriteError answers a failure; fields name the offending inputs.
func WriteError(w http.ResponseWriter, status int, msg string, fields map[string]string) {
	WriteEnvelope(w, status, Envelope{Error: &Error{Message: msg, Fields: fields}})
}

// WriteEnvelope answers with e as JSON, never cached.
func WriteEnvelope(w http.ResponseWriter, status int, e Envelope) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(e)
}

// DecodeBody decodes a JSON request body of at most maxBytes into dst,
// rejecting unknown fields and trailing data. On failure it has answered
// 400, 413 or 415 and returns false.
func DecodeBody(w http.ResponseWriter, r *http.Request, dst any, maxBytes int64) bool {
	status, e := ReadBody(w, r, dst, maxBytes)
	if e != nil {
		WriteError(w, status, e.Message, e.Fields)
		return false
	}
	return true
}

// ReadBody is DecodeBody for an API with another envelope: it answers
// nothing, and returns the status and the error to answer with, or nil.
func ReadBody(w http.ResponseWriter, r *http.Request, dst any, maxBytes int64) (int, *Error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return http.StatusUnsupportedMediaType, &Error{Message: "Content-Type must be application/json, not " + ct}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil && dec.More() {
		err = errors.New("unexpected data after the JSON value")
	}
	if err == nil {
		return 0, nil
	}
	var (
		tooBig  *http.MaxBytesError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, &Error{Message: fmt.Sprintf("request body over %d bytes", tooBig.Limit)}
	case errors.Is(err, io.EOF):
		return http.StatusBadRequest, &Error{Message: "request body is empty; expected a JSON object"}
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return http.StatusBadRequest, &Error{Message: "invalid request body",
			Fields: map[string]string{typeErr.Field: "must be " + typeErr.Type.String()}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return http.StatusBadRequest, &Error{Message: "invalid request body", Fields: map[string]string{field: "unknown field"}}
	}
	return http.StatusBadRequest, &Error{Message: "invalid JSON body: " + err.Error()}
}
