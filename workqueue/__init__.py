"""A deduplicating, delaying, rate-limited work queue with client-go's semantics, on asyncio.

This package imports nothing of rayop's."""
