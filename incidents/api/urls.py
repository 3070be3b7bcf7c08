from opsassist.lib.routers import OptionalSlashRouter

app_name = "incidents-api"

router = OptionalSlashRouter()

urlpatterns = router.urls
