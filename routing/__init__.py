"""FireTwin routing package."""
