package sim

import "net/http"

// Handler returns the dashboard API.
func (s *Sim) Handler() http.Handler { return http.NotFoundHandler() }
