"""asyncio adapters: the only place that drives sans-I/O cores from an event loop."""
