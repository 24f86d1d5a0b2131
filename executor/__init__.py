"""The executor service: leases queued task instances and runs each try in its own process."""
