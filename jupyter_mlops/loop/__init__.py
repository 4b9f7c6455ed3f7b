"""The loop: gates, promotion and (later) policies. Core: no web import."""
