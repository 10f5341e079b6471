"""Bearer-token authentication for the agent API: mint, verify, and keep tokens out of logs.

The API calls `token_from_authorization` then `verify_token` before any handler and maps an
`AuthError` to 401 with `AuthError.www_authenticate`.
"""

from novacron.auth.bearer import token_from_authorization
from novacron.auth.errors import AuthError, AuthReason
from novacron.auth.redact import RedactionFilter, install_redaction, uninstall_redaction
from novacron.auth.tokens import ALGORITHM, Claims, mint_token, verify_token

__all__ = [
    "ALGORITHM",
    "AuthError",
    "AuthReason",
    "Claims",
    "RedactionFilter",
    "install_redaction",
    "mint_token",
    "token_from_authorization",
    "uninstall_redaction",
    "verify_token",
]
