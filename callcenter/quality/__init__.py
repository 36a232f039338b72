"""Quality review: review forms the admin sets, supervisors' scores of recorded calls, the
agents' acknowledgement (docs/console.md "Quality review", docs/metrics.md "Quality")."""
