"""The task-instance state machine, below every service and the SDK.

States and their sets (:mod:`core.states`), the mapping to and from the contract's enums
(:mod:`core.proto_enums`), the transitions a scheduler may make (:mod:`core.transitions`),
trigger rules (:mod:`core.trigger_rules`), retry back-off (:mod:`core.retries`), how a try
ends (:mod:`core.tries`), and the run-outcome rule and run ids (:mod:`core.runs`). Pure: it
imports nothing of Tradewind's but the generated enums, and never performs I/O.
"""
