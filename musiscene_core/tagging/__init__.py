"""The tagging job's framework-free parts: configuration, planning, stages and the output store."""
