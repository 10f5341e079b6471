"""Default validities and names, shared by the library and the `novacron cert` CLI.

Why a module of their own: the CLI shows them in its help when `novacron` builds its parser,
which must not import cryptography and the config model for every unrelated command.
"""

DEFAULT_CA_NAME = "NovaCron cluster CA"
DEFAULT_CA_DAYS = 3650
DEFAULT_NODE_DAYS = 825
DEFAULT_RENEW_DAYS = 30
