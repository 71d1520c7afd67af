"""After training: a versioned SavedModel for TF Serving (export) and mining a pool with it (mining)."""
