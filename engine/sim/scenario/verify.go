package scenario

import (
	"slices"
	"strings"
)

// Decided is what the agent did with one event, as its admin API lists it
// (GET /v1/events).
type Decided struct {
	ID      string          `json:"id"`
	Status  string          `json:"status"` // received, held, processed or failed
	Actions []DecidedAction `json:"actions"`
}

// DecidedAction is one action of a decision.
type DecidedAction struct {
	Type     string `json:"type"`
	Reason   string `json:"reason"`
	Severity string `json:"severity"`
}

// KindResult is how the agent did on one fault kind.
type KindResult struct {
	Kind     Kind `json:"kind"`
	Expected int  `json:"expected"` // truth lines
	Found    int  `json:"found"`    // truth lines the agent met
	// Recall is Found/Expected. Precision is Found over Found plus what
	// the agent raised, or answered, of this kind's sort where nothing
	// called for it; nil for kinds that must raise nothing.
	Recall    float64  `json:"recall"`
	Precision *float64 `json:"precision"`
}

// Finding is one thing verify holds against the agent.
type Finding struct {
	EventID string `json:"eventId"`
	Kind    Kind   `json:"kind,omitempty"`
	Type    string `json:"type,omitempty"`
	Reason  string `json:"reason,omitempty"`
	What    string `json:"what"`
}

// Result compares a run's ground truth with what the agent did.
type Result struct {
	Scenario string       `json:"scenario"`
	Events   int          `json:"events"`  // of the scenario, stored by the agent
	Pending  int          `json:"pending"` // received or held: not decided yet
	Failed   int          `json:"failed"`  // the agent could not process them
	Kinds    []KindResult `json:"kinds"`
	Missed   []Finding    `json:"missed"`      // truth lines not met
	False    []Finding    `json:"falseAlerts"` // actions nothing called for
	// Unexpected are deliveries the receiver answered other than the
	// scenario expected.
	Unexpected []Outcome `json:"unexpectedAnswers"`
	// ThrottleLifts counts usage_recovered actions: a throttle a
	// usage-limit fault set is lifted by whichever delta comes next.
	ThrottleLifts int  `json:"throttleLifts"`
	OK            bool `json:"ok"`
}

// Verify compares the ground truth and recorded outcomes of a run with the
// events the agent decided. Only events of the truth's scenario count.
func Verify(truth []Truth, outcomes []Outcome, events []Decided) *Result {
	res := &Result{Missed: []Finding{}, False: []Finding{}, Unexpected: []Outcome{}, Kinds: []KindResult{}}
	if len(truth) > 0 {
		res.Scenario = truth[0].Scenario
	}
	prefix := EventPrefix(res.Scenario)
	byID := map[string]*Decided{}
	for i := range events {
		ev := &events[i]
		if res.Scenario != "" && !strings.HasPrefix(ev.ID, prefix) {
			continue
		}
		byID[ev.ID] = ev
		res.Events++
		switch ev.Status {
		case "received", "held":
			res.Pending++
		case "failed":
			res.Failed++
		}
	}
	lifts := false // a usage-limit fault set a throttle
	expected := map[string]bool{}
	for _, t := range truth {
		lifts = lifts || t.Kind == UsageLimit
		if t.Expect.Outcome == ExpectAction {
			expected[t.EventID+"\x00"+t.Expect.Reason] = true
		}
	}
	lift := func(a DecidedAction) bool { return lifts && a.Type == "unthrottle" && a.Reason == "usage_recovered" }

	answered := map[string]Answer{} // event id, kind → what the delivery carrying that fault got
	for _, o := range outcomes {
		if o.Kind != "" {
			answered[o.EventID+"\x00"+string(o.Kind)] = o.Got
		}
		if o.Got != o.Expected {
			res.Unexpected = append(res.Unexpected, o)
		}
	}

	// What the agent raised, or answered, that no truth line called for.
	for _, ev := range byID {
		for _, a := range ev.Actions {
			switch {
			case expected[ev.ID+"\x00"+a.Reason]:
			case lift(a):
				res.ThrottleLifts++
			default:
				res.False = append(res.False, Finding{EventID: ev.ID, Type: a.Type, Reason: a.Reason, What: "raised on an event with no such fault"})
			}
		}
	}
	slices.SortFunc(res.False, func(a, b Finding) int { return strings.Compare(a.EventID+a.Reason, b.EventID+b.Reason) })

	kinds := map[Kind]*KindResult{}
	for _, t := range truth {
		kr := kinds[t.Kind]
		if kr == nil {
			kr = &KindResult{Kind: t.Kind}
			kinds[t.Kind] = kr
		}
		kr.Expected++
		if what := met(t, byID[t.EventID], answered, lift); what != "" {
			res.Missed = append(res.Missed, Finding{EventID: t.EventID, Kind: t.Kind, Type: t.Expect.Type, Reason: t.Expect.Reason, What: what})
		} else {
			kr.Found++
		}
	}
	for _, k := range Kinds {
		kr := kinds[k]
		if kr == nil {
			continue
		}
		kr.Recall = float64(kr.Found) / float64(kr.Expected)
		if fp, ok := falsePositives(k, res); ok && kr.Found+fp > 0 {
			p := float64(kr.Found) / float64(kr.Found+fp)
			kr.Precision = &p
		}
		res.Kinds = append(res.Kinds, *kr)
	}
	res.OK = len(res.Missed) == 0 && len(res.False) == 0 && len(res.Unexpected) == 0 && res.Pending == 0 && res.Failed == 0
	return res
}

// met says why truth line t was not met, or "" when it was.
func met(t Truth, ev *Decided, answered map[string]Answer, lift func(DecidedAction) bool) string {
	switch t.Expect.Outcome {
	case ExpectAction:
		if ev == nil {
			return "the agent has no such event"
		}
		for _, a := range ev.Actions {
			if a.Type == t.Expect.Type && a.Reason == t.Expect.Reason {
				return ""
			}
		}
		return "no " + t.Expect.Type + "/" + t.Expect.Reason + " action (event " + ev.Status + ")"
	case ExpectNone:
		if ev == nil {
			return "the agent has no such event"
		}
		if ev.Status != "processed" {
			return "event " + ev.Status
		}
		for _, a := range ev.Actions {
			if !lift(a) {
				return "raised " + a.Type + "/" + a.Reason
			}
		}
		return ""
	}
	got, ok := answered[t.EventID+"\x00"+string(t.Kind)]
	switch {
	case !ok:
		return "no answer recorded for the delivery (was the outcomes file written by this run?)"
	case got.Outcome != t.Expect.Outcome || (t.Expect.Reason != "" && got.Reason != t.Expect.Reason):
		what := "answered " + got.Outcome
		if got.Reason != "" {
			what += " (" + got.Reason + ")"
		}
		return what
	}
	return ""
}

// falsePositives counts what was raised or answered of kind k's sort where
// nothing called for it, and reports whether k has a sort at all: kinds
// that must raise nothing have none. Kinds sharing a reason share its
// false alerts.
func falsePositives(k Kind, res *Result) (int, bool) {
	n := 0
	exp := expectations[k]
	switch exp[0].Outcome {
	case ExpectNone:
		return 0, false
	case ExpectAction:
		for _, f := range res.False {
			for _, e := range exp {
				if f.Reason == e.Reason {
					n++
					break
				}
			}
		}
	default:
		for _, o := range res.Unexpected {
			if o.Got.Outcome == exp[0].Outcome && (exp[0].Reason == "" || o.Got.Reason == exp[0].Reason) {
				n++
			}
		}
	}
	return n, true
}
