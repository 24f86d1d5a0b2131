"""Sensors: operators that wait for something, poking, rescheduling or deferring."""
