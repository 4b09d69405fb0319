"""LEAIM layer 3, serving and inference, as the platform reaches it: the worker client, the routing of
traffic to model versions, and the circuit breaker. The GPU workers themselves live in `gpu_workers`."""
