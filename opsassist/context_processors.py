from django.conf import settings


def product(request):
    return {
        "APP_VERSION": settings.APP_VERSION,
        "ENVIRONMENT": settings.ENVIRONMENT,
        "SIMULATION": settings.OPSASSIST_SIMULATION,
    }
