# Routing: which plugin instances an action goes to.
#
# data.routing is a list of routes {"match": {FIELD: [VALUE, ...]}, "targets":
# [PLUGIN, ...]}. A route matches an action when, for every FIELD its match
# names, the action's FIELD is one of the listed values; a route without a
# match matches every action. An action goes to the union of the targets of
# all routes it matches, deduplicated and sorted, or to data.routing_default
# when it matches none.
package arbiter.routing

# targets(action) is the sorted list of plugin instances action goes to.
targets(action) := sort(matched) if {
	matched := {t |
		some route in data.routing
		_matches(route, action)
		some t in route.targets
	}
	count(matched) > 0
} else := _default_targets

_matches(route, action) if {
	every field, allowed in object.get(route, "match", {}) {
		action[field] in allowed
	}
}

_default_targets := sort({t | some t in data.routing_default})
