# A small policy set for the package's tests: two rules, routing from a
# data file in a subdirectory, and tests of its own.
package arbiter

import data.arbiter.rules

decision := {"actions": [object.union(a, {"targets": targets}) | some a in rules.actions]}

targets := array.concat(data.targets, data.routing.extra)
