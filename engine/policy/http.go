package policy

import (
	"encoding/json"
	"net/http"
)

// ReloadPath is where the agent mounts ReloadHandler, behind its admin
// authentication.
const ReloadPath = "/-/reload"

// ReloadResponse is the body ReloadHandler answers with.
type ReloadResponse struct {
	Revision string    `json:"revision"`           // the active revision, new or, after a failure, the previous one
	Result   string    `json:"result"`             // a Result… constant
	Error    string    `json:"error,omitempty"`    // why the new set was rejected
	Problems []Problem `json:"problems,omitempty"` // located problems, for a compile or test failure
}

// ReloadHandler serves POST /-/reload: it reloads the policy set and answers
// 200 with the new revision, 422 with the problems when the set was
// rejected for its content (the previous revision stays active), or 500
// when the files could not be read.
func (e *Engine) ReloadHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, http.StatusMethodNotAllowed, ReloadResponse{
				Revision: e.Set().Revision(),
				Result:   "method_not_allowed",
				Error:    "use POST to reload the policy set",
			})
			return
		}
		err := e.Reload(r.Context())
		resp := ReloadResponse{Revision: e.Set().Revision(), Result: ResultOK}
		status := http.StatusOK
		if err != nil {
			resp.Result, resp.Error, resp.Problems = resultOf(err), err.Error(), ProblemsOf(err)
			status = http.StatusUnprocessableEntity
			if resp.Result == ResultLoadError {
				status = http.StatusInternalServerError
			}
		}
		writeJSON(w, status, resp)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
