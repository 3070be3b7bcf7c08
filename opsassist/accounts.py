"""Account pages that differ from Django's stock ones."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.views.generic.edit import FormView


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset form, but the mailed link always points at OPSASSIST_URL: the stock view builds it
    from the request's Host header and scheme, which whoever asks for the reset chooses."""

    def form_valid(self, form):
        public = urlsplit(settings.OPSASSIST_URL)
        form.save(
            domain_override=public.netloc,
            use_https=public.scheme == "https",
            token_generator=self.token_generator,
            from_email=self.from_email,
            email_template_name=self.email_template_name,
            subject_template_name=self.subject_template_name,
            request=self.request,
            html_email_template_name=self.html_email_template_name,
            extra_email_context=self.extra_email_context,
        )
        return FormView.form_valid(self, form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's set-password page (the link a new person gets, or a reset mail), but a deactivated person's
    link is dead: one handed out before they were deactivated must not prepare their way back in."""

    def get_user(self, uidb64):
        user = super().get_user(uidb64)
        return user if user is not None and user.is_active else None
