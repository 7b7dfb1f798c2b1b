"""crmkit: a headless CRM that AI agents operate over plain-text HTTP and MCP."""

__version__ = "0.1.0"
