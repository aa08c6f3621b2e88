"""Signing in to the panel: the same accounts and argon2 hashes as the API (UserService),
administrators only, rate-limited like the API's token login. The session is a signed,
HttpOnly, SameSite=Strict cookie (Secure in production) holding the admin's id and token
version, so what revokes their API tokens (deactivation, a password change, logging out
everywhere) also signs them out of the panel. An administrator with two-factor on signs in
with the code too (the same check and lockout as the API's code step); where administrators
must have two-factor (ORDERLY_ADMIN_REQUIRE_MFA, on in production), one without it is sent
to enrol through the API first."""

from __future__ import annotations

import hashlib
import hmac
import uuid

import structlog
from sqladmin.authentication import AuthenticationBackend
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from orderly.admin.base import OrderlyAdmin
from orderly.admin.session import SignedSessionMiddleware
from orderly.core.config import Environment, Settings
from orderly.core.errors import TooManyRequests
from orderly.core.ratelimit import LimitScope
from orderly.models import User
from orderly.services.two_factor import InvalidMfaCode
from orderly.services.users import AccountDisabled, InvalidCredentials, UserNotFound

log = structlog.get_logger(__name__)

SESSION_COOKIE = "orderly_admin"
SESSION_HOURS = 8
_MAX_EMAIL, _MAX_PASSWORD, _MAX_CODE = 320, 128, 16


def session_key(settings: Settings) -> str:
    """The cookie signing key, derived from the secret key but never equal to it."""
    secret = settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, b"orderly admin session", hashlib.sha256).hexdigest()


class AdminAuth(AuthenticationBackend):
    def __init__(self, settings: Settings) -> None:
        # Not super().__init__: that would install Starlette's SessionMiddleware.
        self.middlewares = [
            Middleware(
                SignedSessionMiddleware,
                key=session_key(settings),
                cookie=SESSION_COOKIE,
                max_age=SESSION_HOURS * 3600,
                path="/admin",
                secure=settings.environment is Environment.PRODUCTION,
            )
        ]
        self.admin: OrderlyAdmin | None = None  # set once the panel is built

    def _admin(self) -> OrderlyAdmin:
        if self.admin is None:
            raise RuntimeError("AdminAuth is not attached to a panel")
        return self.admin

    async def login(self, request: Request) -> Response | bool:
        form = await request.form()
        email, password = str(form.get("username", "")), str(form.get("password", ""))
        code = str(form.get("code", "")).strip()
        container = self._admin().services()
        client = request.client.host if request.client else "unknown"
        try:
            await container.rate_limiter.check(LimitScope.LOGIN, client)
            plausible = 0 < len(email) <= _MAX_EMAIL and email.isprintable()
            if not plausible or len(password) > _MAX_PASSWORD or len(code) > _MAX_CODE:
                return False
            user = await container.users.check_credentials(email=email, password=password)
        except TooManyRequests as exc:  # the address's budget, or the account's lockout
            headers = {"Retry-After": str(exc.retry_after)}
            return await self._refuse(request, exc.detail, 429, headers)
        except InvalidCredentials:
            return False
        except AccountDisabled as exc:
            return await self._refuse(request, exc.detail, 403)
        refused = await self._refusal(request, user, code)
        if refused is not None:
            return refused
        request.session.clear()  # a fresh session at each sign-in
        request.session.update({"user_id": str(user.id), "token_version": user.token_version})
        log.info("admin_login", admin_id=str(user.id))
        return True

    async def _refusal(self, request: Request, user: User, code: str) -> Response | None:
        """None when the password's owner may go on: an administrator whose code is right,
        or who needs none."""
        if not user.is_admin:
            log.info("admin_login_refused", user_id=str(user.id), reason="not an administrator")
            return await self._refuse(request, "Only administrators may sign in here", 403)
        container = self._admin().services()
        if not user.two_factor_enabled:
            if not container.settings.admins_need_mfa:
                return None
            log.info("admin_login_refused", user_id=str(user.id), reason="no two-factor")
            message = (
                "Administrators must turn on two-factor first: POST /api/v1/auth/2fa/setup, "
                "then /api/v1/auth/2fa/confirm, then sign in here with a code"
            )
            return await self._refuse(request, message, 403)
        try:
            if not code:
                raise InvalidMfaCode("Two-factor is on: enter the code from your authenticator app")
            await container.users.second_factor.verify(user_id=user.id, code=code)
        except InvalidMfaCode as exc:
            return await self._refuse(request, exc.detail, 401)
        except TooManyRequests as exc:
            headers = {"Retry-After": str(exc.retry_after)}
            return await self._refuse(request, exc.detail, 429, headers)
        return None

    async def logout(self, request: Request) -> Response | bool:
        request.session.clear()
        return False  # to the sign-in page

    async def authenticate(self, request: Request) -> Response | bool:
        """Every panel request re-reads the admin: demoted, deactivated or with revoked
        tokens, they are signed out at once."""
        raw_id, version = request.session.get("user_id"), request.session.get("token_version")
        if not isinstance(raw_id, str):
            return False
        try:
            user = await self._admin().services().users.get_user(user_id=uuid.UUID(raw_id))
        except (ValueError, UserNotFound):
            user = None
        if user is None or not user.is_admin or not user.is_active or user.token_version != version:
            request.session.clear()
            return False
        if self._admin().services().settings.admins_need_mfa and not user.two_factor_enabled:
            request.session.clear()
            return False
        request.state.admin_user = user
        return True

    async def _refuse(
        self, request: Request, message: str, status: int, headers: dict[str, str] | None = None
    ) -> Response:
        response = await self._admin().templates.TemplateResponse(
            request, "sqladmin/login.html", {"error": message}, status_code=status
        )
        response.headers.update(headers or {})
        return response
