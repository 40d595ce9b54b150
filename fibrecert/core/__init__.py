"""The core of fibrecert: the types every layer above shares and that know no API, no suite, no report
and no command line (the layering is enforced by tests/test_layering.py).

    core  <-  apis (one dialect per API)  <-  engine, strategies, suites, sandbox, reports  <-  CLI
"""
