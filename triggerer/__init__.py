"""The triggerer service: runs deferred tasks' triggers as asyncio coroutines."""
