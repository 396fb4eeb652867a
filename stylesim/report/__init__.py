"""Human-readable reports: HTML contact sheets of restyles."""
