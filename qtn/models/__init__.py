"""qtn.models."""
