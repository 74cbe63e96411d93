"""The make engine: rules, staleness, running, plugins, config, state — and nothing else
(DESIGN §1 keeps everything about the remote service out of it)."""
