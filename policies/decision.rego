# The decision the engine evaluates for every input document:
#
#	data.arbiter.decision = {"actions": [ACTION, ...]}
#
# Each ACTION is an action object of data.arbiter.rules.actions with
# "targets" (the plugin instances routing chose) and "eventId" (the event
# that caused it, unless the rule set one) added. Actions are ordered by type,
# then reason, then the whole object, so the same input always yields the
# same list.
package arbiter

import data.arbiter.routing
import data.arbiter.rules

# Most events decide nothing: answer those without building comprehensions.
decision := {"actions": []} if {
	count(rules.actions) == 0
} else := {"actions": [object.union(action, {"targets": routing.targets(action)}) |
	some [_, _, a] in sort({[object.get(r, "type", ""), object.get(r, "reason", ""), r] | some r in rules.actions})
	action := object.union({"eventId": _event_id}, a)
]}

_event_id := object.get(input, ["event", "id"], null)
