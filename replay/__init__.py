"""A traffic replayer that drives the running API like a shop's front-end would."""
