"""Access control: which role may do what, and the governed HTTP gate every API answers through."""
