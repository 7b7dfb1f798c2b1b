"""Users, sign-in codes, tokens, workspaces, members, invites, plans and step-up."""
