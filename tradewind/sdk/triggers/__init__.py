"""Triggers: the waits a deferred task hands to the triggerer service."""
