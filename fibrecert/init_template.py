"""`fibrecert init`: write a commented target-file template.

Every key the target file accepts (fibrecert.target) is in the template: a required value as a
placeholder `"<<FILL: what goes here>>"`, an optional key commented out with its default (or, where
it has none, with an example and what leaving it out means). `fibrecert run` refuses a file that
still holds placeholders, listing them all (fibrecert.target.load_target).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from fibrecert.cli_help import HelpFormatter, exit_codes

__all__ = ["template", "write_template", "register", "run_init", "InitError", "PLACEHOLDER_PREFIX",
           "DEFAULT_PATH"]

PLACEHOLDER_PREFIX = "<<FILL:"
DEFAULT_PATH = "fibrecert-target.toml"
APIS = ("ala", "fibrecafe", "all")


class InitError(Exception):
    """The template could not be written: one line, exit code 2."""


@dataclass(frozen=True)
class _Key:
    name: str
    about: tuple[str, ...]          # comment lines above the key
    fill: str | None = None         # required: what goes here (the placeholder's text)
    value: str | None = None        # optional: the TOML text of its default (or of an example)
    example: bool = False           # optional without a default: `value` is an example
    list_of_one: bool = False       # the placeholder goes inside a list


def _fill(what: str) -> str:
    return f'"{PLACEHOLDER_PREFIX} {what}>>"'


_ALA: tuple[_Key, ...] = (
    _Key("base_url", ("The seller endpoint: /ceaseOrder and /cancelOrder are POSTed below it. https:// only.",),
         fill="https:// URL of the ALA seller endpoint, e.g. https://ala-sandbox.example.net:8443"),
    _Key("buyer_base_url", ("The buyer endpoint (/unsolicitedCeaseRequest), if you implement the buyer role.",
                            "Not set: only the seller role is certified. Set: seller_client_cert and",
                            "seller_client_key below are required too."),
         value='"https://ala-buyer.example.net:9443"', example=True),
    _Key("namespace", ('The namespace of the core ALA elements; "" = unqualified elements.',),
         value='""'),
    _Key("ca_bundle", ("PEM file of the CA(s) that issued your server certificate. Not set: the default",
                       "CA store (REQUESTS_CA_BUNDLE, else certifi's)."),
         value='"pki/ca.pem"', example=True),
    _Key("client_cert", ("The client certificate fibrecert presents as buyer_identifier (its subject CN",
                         "is that identifier), and its unencrypted private key. PEM files."),
         fill="path of the PEM client certificate of buyer_identifier, e.g. pki/buyer.crt"),
    _Key("client_key", (), fill="path of that certificate's unencrypted PEM private key, e.g. pki/buyer.key"),
    _Key("other_client_cert", ("A valid identity of another buyer, for the cross-party security requirements",
                               "(someone else's order must be refused). Not set: those MUSTs are",
                               "not_tested and the verdict is INCOMPLETE, never CONFORMANT."),
         value='"pki/other-buyer.crt"', example=True),
    _Key("other_client_key", (), value='"pki/other-buyer.key"', example=True),
    _Key("seller_client_cert", ("The identity fibrecert presents when it plays the seller against",
                                "buyer_base_url. Required when buyer_base_url is set."),
         value='"pki/seller.crt"', example=True),
    _Key("seller_client_key", (), value='"pki/seller.key"', example=True),
    _Key("buyer_identifier", ("The buyer identifier of client_cert.",),
         fill="the buyer identifier of client_cert (its subject CN), e.g. SPDEV1"),
    _Key("other_buyer_identifier", ("The buyer identifier of other_client_cert. Required with it.",),
         value='"SPDEV2"', example=True),
    _Key("seller_identifier", ("The seller's identifier.",),
         fill="the seller identifier your endpoint answers as, e.g. CITYFIBRE"),
    _Key("active_services", ("Services of buyer_identifier that the run may cease FOR REAL, each once, from",
                             "the front. A ledger beside this file (NAME.ledger.json) records what each run",
                             "used; add fresh ones when fibrecert says too few remain."),
         fill="an active service id of buyer_identifier that may be ceased", list_of_one=True),
    _Key("timeout", ("Seconds to wait for each answer.",), value="10"),
)

_FIBRECAFE: tuple[_Key, ...] = (
    _Key("base_url", ("The API's base URL: /service-orders and /service-order-cancellations are POSTed",
                      "below it. https:// only."),
         fill="https:// base URL of the Fibre Cafe API, e.g. https://fc-sandbox.example.net/v1"),
    _Key("token_url", ("The OAuth2 client-credentials token endpoint.",
                       "Default: base_url + /auth/tenant/access-token."),
         value='"https://fc-sandbox.example.net/v1/auth/tenant/access-token"', example=True),
    _Key("ca_bundle", ("PEM file of the CA(s) that issued your server certificate. Not set: the default",
                       "CA store (REQUESTS_CA_BUNDLE, else certifi's)."),
         value='"pki/ca.pem"', example=True),
    _Key("client_id", ("The tenant fibrecert acts as.",), fill="the OAuth2 client_id of the tenant, e.g. tenant-a"),
    _Key("client_secret_env", ("The name of the environment variable that holds client_id's secret (keeps",
                               "the secret out of this file). Or, instead: client_secret = \"...\"."),
         fill="name of the environment variable holding the client secret, e.g. FIBRECAFE_CLIENT_SECRET"),
    _Key("other_client_id", ("A second tenant, for the cross-tenant requirements (one tenant must not see",
                             "another's orders). Not set: those MUSTs are not_tested and the verdict is",
                             "INCOMPLETE, never CONFORMANT. With it, other_client_secret_env (or",
                             "other_client_secret) is required."),
         value='"tenant-b"', example=True),
    _Key("other_client_secret_env", (), value='"FIBRECAFE_OTHER_CLIENT_SECRET"', example=True),
    _Key("short_ttl_client_id", ("A client whose tokens expire within seconds (expires_in of 15 s or less), for the",
                                 "requirement that an expired token is refused (SEC-015). Not set: that MUST is",
                                 "tested with client_id's tokens only if they are that short-lived, else",
                                 "not_tested. With it, short_ttl_client_secret_env (or short_ttl_client_secret)",
                                 "is required."),
         value='"tenant-a-short-ttl"', example=True),
    _Key("short_ttl_client_secret_env", (), value='"FIBRECAFE_SHORT_TTL_CLIENT_SECRET"', example=True),
    _Key("supplier", ("The supplier value sent in orders (the contract's pattern: ^\\w{1,20}$).",),
         fill="the supplier value orders name, e.g. DUMMY_SUPPLIER"),
    _Key("scope", ("The OAuth2 scope to ask for. Not set: no scope parameter is sent.",),
         value='"orders"', example=True),
    _Key("timeout", ("Seconds to wait for each answer.",), value="10"),
)

_SECTIONS = {
    "ala": ("NICC ALA 2.30: SOAP 1.1 over HTTPS, mutual TLS.", "Fibre Cafe", _ALA),
    "fibrecafe": ("Fibre Cafe Tenant API 1.17: JSON over HTTPS, OAuth2 client credentials.", "ALA", _FIBRECAFE),
}


def template(api: str = "all") -> str:
    """The template for `api` ("ala", "fibrecafe" or "all"), as TOML text."""
    if api not in APIS:
        raise ValueError(f"api must be one of {', '.join(APIS)}, not {api!r}")
    names = ("ala", "fibrecafe") if api == "all" else (api,)
    out = [
        "# fibrecert target file: what to certify and with which credentials.",
        "# Written by `fibrecert init`. Replace every \"<<FILL: ...>>\" (fibrecert refuses a file that still",
        "# holds one); uncomment an optional key to set it (the value shown is its default, or an example",
        "# where it has none). Paths are relative to this file. Keep secrets out of it: use *_secret_env.",
        "# Every key is described in docs/target-file.md of the fibrecert repository.",
        "#",
        "# Then:  fibrecert run --target THIS_FILE",
    ]
    for name in names:
        about, other, keys = _SECTIONS[name]
        out += ["", f"# {about}"]
        if len(names) > 1:
            out.append(f"# (Delete this section if you implement only {other}.)")
        out.append(f"[{name}]")
        for key in keys:
            if key.about:
                out.append("")
                out += [f"# {line}" for line in key.about]
            if key.fill is not None:
                value = f"[{_fill(key.fill)}]" if key.list_of_one else _fill(key.fill)
                out.append(f"{key.name} = {value}")
            else:
                out.append(f"# {key.name} = {key.value}")
    return "\n".join(out) + "\n"


def write_template(path: str | os.PathLike[str], api: str = "all") -> Path:
    """Write the template to `path`; never overwrites. Raises InitError (one line)."""
    p = Path(path)
    text = template(api)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it may hold a secret once filled
    except FileExistsError:
        raise InitError(f"{p}: already exists; not overwritten (remove it, or name another PATH)") from None
    except FileNotFoundError:
        raise InitError(f"{p}: folder {p.parent} does not exist") from None
    except IsADirectoryError:
        raise InitError(f"{p}: is a folder; name a file") from None
    except OSError as exc:
        raise InitError(f"{p}: cannot be written ({exc.strerror or type(exc).__name__})") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return p


def placeholders(text: str) -> int:
    """How many placeholders a template text holds."""
    return sum(1 for line in text.splitlines() if not line.lstrip().startswith("#") and PLACEHOLDER_PREFIX in line)


# ------------------------------------------------------------------------------------------ CLI
def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `fibrecert init` to the CLI's sub-commands; `args.handler(args)` runs it."""
    p = subparsers.add_parser(
        "init", help="write a commented target-file template to fill in",
        description="Write a commented target-file template: every key, required values as "
                    "\"<<FILL: ...>>\"\nplaceholders, optional keys commented out with their default. "
                    "`fibrecert run` refuses\na file that still holds a placeholder.",
        formatter_class=HelpFormatter,
        epilog=exit_codes("0  template written", "2  usage error, or PATH exists (never overwritten)"))
    p.add_argument("--api", choices=list(APIS), default="all", help="the API section(s) to write")
    p.add_argument("path", metavar="PATH", nargs="?", default=DEFAULT_PATH, help="where to write the template")
    p.set_defaults(handler=run_init)
    return p


def run_init(args: argparse.Namespace) -> int:
    try:
        path = write_template(args.path, args.api)
    except InitError as exc:
        sys.stderr.write(f"fibrecert: {exc}\n")
        return 2
    count = placeholders(path.read_text(encoding="utf-8"))
    sections = "[ala] and [fibrecafe]" if args.api == "all" else f"[{args.api}]"
    print(f"Wrote {path} ({sections}): replace its {count} \"<<FILL: ...>>\" placeholders, then run")
    print(f"  fibrecert run --target {shlex.quote(str(path))}")
    return 0
