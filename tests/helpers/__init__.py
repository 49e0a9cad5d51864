"""Small programs the tests start as real processes."""
