"""Services: every state change goes through one function here (validate, write, audit)."""
