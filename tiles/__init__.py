"""FireTwin tiles package."""
