"""qtn.hf."""
