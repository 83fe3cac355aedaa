"""The async engine: generation and judging stages, retries, progress."""
