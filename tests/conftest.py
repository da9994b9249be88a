import os

from hypothesis import HealthCheck, settings

# CI runs a moderate number of examples; NEUROSIM_PROFILE=long runs many more locally.
settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("NEUROSIM_PROFILE", "ci"))
