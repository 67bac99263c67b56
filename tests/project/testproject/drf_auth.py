"""A Django REST framework authentication class without a WWW-Authenticate challenge."""

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed


class HeaderlessAuthentication(BaseAuthentication):
    """Reject a request whose X-Test-Auth header says "reject"; DRF answers such a class 403."""

    def authenticate(self, request):
        if request.META.get("HTTP_X_TEST_AUTH") == "reject":
            raise AuthenticationFailed("Rejected without a challenge.")
        return None  # noqa: RET501 - DRF's "nothing to authenticate", said as DRF says it
