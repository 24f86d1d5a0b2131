"""Tradewind's services: the state service and the runtime every service shares."""
