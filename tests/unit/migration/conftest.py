"""The DWCP tests' throwaway PKI, for the migration relay's pipes."""

from tests.unit.dwcp.conftest import pki  # noqa: F401  (a fixture, found by name)
