from rest_framework.routers import SimpleRouter


class OptionalSlashRouter(SimpleRouter):
    """Routes answer both `/api/v1/incidents` and `/api/v1/incidents/` (clients differ)."""

    def __init__(self):
        super().__init__(use_regex_path=True)
        self.trailing_slash = "/?"
