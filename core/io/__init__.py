"""Files in and out: the lab's exports (CSV, JSON, .keras, a standalone script) and a user's .keras file read as settings."""
