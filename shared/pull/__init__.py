"""Pulling vendor data into Blob Storage: per-vendor fetchers, the shared rate budget, watermarks, live pulls
and backfills. See docs/architecture.md, "The pull"."""
