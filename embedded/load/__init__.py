"""`leaim load`: the local stack driven open-loop through a ramp of arrival rates, each step measured.

- `plan`: the ramp (`LoadPlan`, `LoadStep`) and what came back (`StepRun`, `Arrival`), as data that travels as JSON.
- `generator`: the open-loop generator, Locust in library mode, run in a process of its own (it patches the
  standard library for gevent when imported, so nothing else imports it).
- `launch`: starts that process on a plan and reads its runs back.
- `figures`: each step's figures (offered and achieved rate, latency percentiles, decisions/s, errors,
  fallbacks, audit lag) and the latency elasticity of the ramp.
- `plot`: the PNG of latency and achieved rate against offered rate.
- `run`: the command itself: the local stack, its model and keys, the ramp, and the page it writes.

This package's `__init__` imports nothing, so that the generator's process patches the standard library before
anything else loads it.
"""
