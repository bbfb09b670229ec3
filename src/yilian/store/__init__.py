"""Storage: the repository contract (`base`) and its SQL backends (`sqlite`, `postgres`)."""
