"""The standard operators: Python, branches, short-circuit, latest-only, Bash and empty tasks."""
