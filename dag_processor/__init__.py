"""The DAG processor service: parses DAG files in isolation and registers them with the state service."""
