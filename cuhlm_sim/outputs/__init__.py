"""Run outputs: atomic result folders, the manifest, and per-token Parquet logs."""
