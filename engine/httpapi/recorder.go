package httpapi

import (
	"bytes"
	"net/http"
)

// Recorder keeps the answer to a request served in process: the admin
// API's webhook test through the receiver, the console's calls of the
// admin API.
type Recorder struct {
	Status int // 200 when the handler wrote without a status
	Body   bytes.Buffer
	header http.Header
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{header: http.Header{}} }

func (rec *Recorder) Header() http.Header { return rec.header }

func (rec *Recorder) WriteHeader(status int) {
	if rec.Status == 0 {
		rec.Status = status
	}
}

func (rec *Recorder) Write(b []byte) (int, error) {
	rec.WriteHeader(http.StatusOK)
	return rec.Body.Write(b)
}
