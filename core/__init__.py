"""What every stage shares: configuration machinery, errors, hashing, progress, offline models."""
