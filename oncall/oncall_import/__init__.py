"""Import a Grafana OnCall set-up through its public HTTP API (`manage.py import_oncall`)."""
