"""The clients the suites talk to a target with. Each lives with its API's dialect
(fibrecert/apis/ala.py, fibrecert/apis/fibrecafe.py), which knows the wire format (SOAP envelopes, OAuth2
tokens, required headers); this module gathers them, the identities and the test data for the suites.
"""

from __future__ import annotations

from fibrecert.apis.ala import ALA_BUYER, ALA_NO_CERT, ALA_OTHER_BUYER, ALA_SELLER, ALA_UNTRUSTED, AlaClient
from fibrecert.apis.fibrecafe import (BAD_TOKENS, CLIENT_A, CLIENT_A_WRONG_SECRET, MALFORMED_TOKEN, NO_TOKEN, TENANT_A,
                                      TENANT_B, UNISSUED_TOKEN, WRONG_SECRET, FibreCafeClient)
from fibrecert.core.identity import Identity
from fibrecert.core.testdata import OutOfTestData, ServicePool

__all__ = ["AlaClient", "FibreCafeClient", "OutOfTestData", "ServicePool", "ALA_BUYER", "ALA_NO_CERT",
           "ALA_OTHER_BUYER", "ALA_SELLER", "ALA_UNTRUSTED", "BAD_TOKENS", "CLIENT_A", "CLIENT_A_WRONG_SECRET",
           "MALFORMED_TOKEN", "NO_TOKEN", "TENANT_A", "TENANT_B", "UNISSUED_TOKEN", "WRONG_SECRET", "Identity"]
