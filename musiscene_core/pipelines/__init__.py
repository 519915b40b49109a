"""Job runners: the only place that knows Ray."""
