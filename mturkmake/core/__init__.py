"""The make engine: rules, staleness, running, plugins, config, state. Knows nothing about MTurk."""
