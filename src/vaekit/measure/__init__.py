"""Measurements: `vaekit bench` (textbook loop, engine, JAX peer, roofline) and the `vaekit tiny` checklist."""
