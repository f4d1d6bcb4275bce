"""qtn.contract."""
