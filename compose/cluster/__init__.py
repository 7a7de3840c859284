"""Jinja2 templates for node configs (rendered by the System adapters in harness/systems/)."""
