"""The scheduler service: decides which DAG runs and task instances move next."""
