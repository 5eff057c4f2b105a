"""Running the service: health checks, backups, retention and the load generator."""
