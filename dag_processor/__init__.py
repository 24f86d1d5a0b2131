"""The DAG processor service: parses DAG files in isolation and registers their DAGs."""
