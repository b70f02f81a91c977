"""Monthly model research (benchmarks → rankings) lands here with its own issue."""
