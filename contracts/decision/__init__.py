"""Decision request and response contracts."""
