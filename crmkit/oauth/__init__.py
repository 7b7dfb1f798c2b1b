"""The OAuth 2.1 authorization server behind the MCP connector: clients, grants, sign-in flow."""
