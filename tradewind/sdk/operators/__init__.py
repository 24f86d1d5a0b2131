"""The standard operators: Python, branching, short-circuit, Bash and empty tasks."""
