"""The record service: contacts, companies, deals, their activities, reminders and audit."""
