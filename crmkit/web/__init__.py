"""The HTTP edge: negotiation, errors, auth, limits, request ids, and the route handlers."""
