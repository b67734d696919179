"""FireTwin benchmarks (`make bench`): each script measures FireTwin beside its named peer."""
