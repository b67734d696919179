"""FireTwin layers package."""
