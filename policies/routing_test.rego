package arbiter.routing_test

import data.arbiter.routing

_critical_alert := {"type": "alert", "reason": "chain_discontinuity", "severity": "critical"}

_high_alert := {"type": "alert", "reason": "period_drift", "severity": "high"}

_warning_alert := {"type": "alert", "reason": "unmatched_delta", "severity": "warning"}

_notify := {"type": "notify", "reason": "low_balance", "severity": "warning"}

_routes := [
	{"match": {"type": ["alert"], "severity": ["critical", "high"]}, "targets": ["pagerduty", "slack"]},
	{"match": {"reason": ["chain_discontinuity", "replay"]}, "targets": ["slack", "audit"]},
	{"match": {"type": ["notify", "throttle", "unthrottle"]}, "targets": ["slack"]},
]

# The routes shipped in data.json, pinned here so that the tests hold whatever
# routes an operator's copy of the policy set ships.
_console_routes := [{"match": {"type": ["alert"], "severity": ["critical", "high"]}, "targets": ["console"]}]

test_routing_shipped_routes_send_everything_to_console if {
	every action in [_critical_alert, _high_alert, _warning_alert, _notify, {"type": "custom", "reason": "x", "severity": "info"}] {
		routing.targets(action) == ["console"] with data.routing as _console_routes with data.routing_default as ["console"]
	}
}

test_routing_union_of_matching_routes_sorted_and_deduplicated if {
	routing.targets(_critical_alert) == ["audit", "pagerduty", "slack"] with data.routing as _routes with data.routing_default as ["console"]
}

test_routing_every_match_field_must_hold if {
	routing.targets(_high_alert) == ["pagerduty", "slack"] with data.routing as _routes with data.routing_default as ["console"]
	routing.targets(_notify) == ["slack"] with data.routing as _routes with data.routing_default as ["console"]
}

test_routing_no_match_uses_default if {
	routing.targets(_warning_alert) == ["fallback"] with data.routing as _routes with data.routing_default as ["fallback"]
}

test_routing_default_is_sorted_and_deduplicated if {
	routing.targets(_warning_alert) == ["console", "slack"] with data.routing as _routes
		with data.routing_default as ["slack", "console", "slack"]
}

test_routing_empty_default_means_no_targets if {
	routing.targets(_warning_alert) == [] with data.routing as _routes with data.routing_default as []
}

test_routing_no_routes_uses_default if {
	routing.targets(_critical_alert) == ["fallback"] with data.routing as [] with data.routing_default as ["fallback"]
}

test_routing_route_without_match_catches_all if {
	routing.targets(_warning_alert) == ["archive", "console"] with data.routing as [{"targets": ["archive", "console"]}] with data.routing_default as ["console"]
	routing.targets(_warning_alert) == ["archive"] with data.routing as [{"match": {}, "targets": ["archive"]}] with data.routing_default as ["console"]
}

test_routing_match_on_missing_field_does_not_match if {
	routing.targets(_critical_alert) == ["console"] with data.routing as [{"match": {"customerId": ["cus_1"]}, "targets": ["slack"]}] with data.routing_default as ["console"]
	routing.targets(object.union(_critical_alert, {"customerId": "cus_1"})) == ["slack"] with data.routing as [{"match": {"customerId": ["cus_1"]}, "targets": ["slack"]}] with data.routing_default as ["console"]
}

test_routing_route_without_targets_adds_none if {
	routing.targets(_critical_alert) == ["console"] with data.routing as [{"match": {"type": ["alert"]}}] with data.routing_default as ["console"]
}
