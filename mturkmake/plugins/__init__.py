"""Built-in plugins: one module per CLT command, the client factory, templating, evaluators,
reporting."""
