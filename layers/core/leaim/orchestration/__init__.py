"""LEAIM layer 4, integration and orchestration: the governed decision path over HTTPS and the decision queue,
with enrichment, deadlines, fallbacks and business rules."""
