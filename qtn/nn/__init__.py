"""qtn.nn."""
