"""The school directory: reading it (LDIF or LDAP), understanding it, syncing it."""
