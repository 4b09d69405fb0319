"""LEAIM layer 5 over the running system: outcomes, drift and bias monitoring, review, explanations and reports.

It sits above the lifecycle because drift starts retraining; audit, access and statistics stay in
`leaim.governance`, below everything.
"""
