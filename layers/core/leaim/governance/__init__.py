"""LEAIM layer 5, governance, observability and control, which overlays every other layer.

Every layer records through its audit trail (`audit`), its access policy and HTTP gate (`access`) and its ports;
its oversight (`oversight`, `statistics`, `reports`, `api`) reads what every layer did.
"""
