"""qtn.commands."""
