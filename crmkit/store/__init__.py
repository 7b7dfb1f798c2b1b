"""SQL only: the connection, numbered migrations and one repository module per area."""
