"""Risk reports per street and community (weekly, monthly) and the reads they share."""
