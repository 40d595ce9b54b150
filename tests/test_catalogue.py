"""Self-tests of the requirement catalogues (contracts/requirements/*.yaml).

They check the catalogues against their schema, against each other (unique ids), against the rule
tying level to basis, and against the seed pages: every item a seed page documents (field, enum
value, response status) is covered by some requirement, and every ``covers`` entry names an item
that exists. The seed pages are read from ``shared/seeds`` beside the checkout (or
``$FIBRECERT_SEEDS_DIR``); without them these tests fail, never skip.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from seed_items import SEEDS_DIR_ENV, SeedPageError, default_seeds_dir, parse_page, seed_items

REQUIREMENTS_DIR = Path(__file__).resolve().parents[1] / "contracts" / "requirements"
SCHEMA_PATH = REQUIREMENTS_DIR / "catalogue.schema.json"
CATALOGUE_PATHS = sorted(REQUIREMENTS_DIR.glob("*.yaml"))
EXPECTED_CATALOGUES = {"ala-2.30.yaml", "fibrecafe-1.17.yaml"}
# Families whose requirements are MUST whatever their basis (security, robustness).
ALWAYS_MUST_PREFIXES = ("SEC-", "ROB-")


# ---------------------------------------------------------------------------------------- helpers


def _load_yaml(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _catalogues() -> dict[str, dict]:
    return {path.name: _load_yaml(path) for path in CATALOGUE_PATHS}


def _requirements() -> list[tuple[str, dict]]:
    """(catalogue file name, requirement) for every requirement of every catalogue."""
    return [
        (name, requirement)
        for name, catalogue in _catalogues().items()
        for requirement in catalogue.get("requirements") or []
    ]


def _covers() -> dict[str, list[str]]:
    """Each ``covers`` entry -> the ids of the requirements listing it."""
    covered: dict[str, list[str]] = defaultdict(list)
    for _, requirement in _requirements():
        for entry in requirement.get("covers") or []:
            covered[entry].append(requirement["id"])
    return covered


def _seeds() -> dict[str, set[str]]:
    """The parsed seed pages; a missing seeds directory fails the calling test (never skips it)."""
    try:
        return seed_items(default_seeds_dir())
    except FileNotFoundError as error:
        message = str(error)
    pytest.fail(
        f"{message}. The catalogue's coverage of the seed pages cannot be certified without them.",
        pytrace=False,
    )


def _seed_keys(items: dict[str, set[str]]) -> set[str]:
    """``<stem>#<section>#<item>`` for every parsed item."""
    return {f"{stem}#{item}" for stem, stem_items in items.items() for item in stem_items}


def _uncovered(seed_keys: set[str], covered: set[str]) -> list[str]:
    return sorted(seed_keys - covered)


def _stale(seed_keys: set[str], covers: dict[str, list[str]]) -> list[str]:
    return sorted(
        f"{requirement_id}: {entry}"
        for entry, requirement_ids in covers.items()
        if entry not in seed_keys
        for requirement_id in requirement_ids
    )


# ------------------------------------------------------------------------------ catalogue shape


def test_both_catalogues_are_present():
    found = {path.name for path in CATALOGUE_PATHS}
    assert EXPECTED_CATALOGUES <= found, (
        f"Observed catalogues in {REQUIREMENTS_DIR}: {sorted(found)} / "
        f"Expected at least: {sorted(EXPECTED_CATALOGUES)}"
    )


@pytest.mark.parametrize("path", CATALOGUE_PATHS, ids=lambda path: path.name)
def test_catalogue_validates_against_schema(path):
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(_load_yaml(path)), key=lambda error: list(error.absolute_path))
    assert not errors, f"{path.name} violates {SCHEMA_PATH.name}:\n" + "\n".join(
        f"  at /{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in errors
    )


def test_requirement_ids_are_unique_across_catalogues():
    where: dict[str, list[str]] = defaultdict(list)
    for catalogue, requirement in _requirements():
        where[requirement["id"]].append(catalogue)
    duplicates = {rid: places for rid, places in sorted(where.items()) if len(places) > 1}
    assert not duplicates, "Requirement ids defined more than once:\n" + "\n".join(
        f"  {rid}: in {', '.join(places)}" for rid, places in duplicates.items()
    )


def test_level_follows_basis():
    """An assumed requirement is SHOULD, except SEC-/ROB- requirements, which are MUST whatever the basis."""
    violations = []
    for catalogue, requirement in _requirements():
        rid, level, basis = requirement["id"], requirement["level"], requirement["basis"]
        if rid.startswith(ALWAYS_MUST_PREFIXES):
            if level != "MUST":
                violations.append(f"  {catalogue} {rid}: level {level} (basis {basis}) / expected MUST")
        elif basis == "assumed" and level != "SHOULD":
            violations.append(f"  {catalogue} {rid}: level {level} with basis assumed / expected SHOULD")
    assert not violations, "Requirement levels that break the level/basis rule:\n" + "\n".join(violations)


# -------------------------------------------------------------------------- seed page coverage


def test_catalogue_seeds_match_seed_pages():
    """Each seed page is claimed by exactly one catalogue, and a catalogue covers only its own pages."""
    pages = set(_seeds())
    claimed: dict[str, list[str]] = defaultdict(list)
    problems = []
    for name, catalogue in _catalogues().items():
        own = set(catalogue.get("seeds") or [])
        for stem in sorted(own - pages):
            problems.append(f"  {name}: seeds lists {stem!r}, which has no page")
        for stem in own:
            claimed[stem].append(name)
        for requirement in catalogue.get("requirements") or []:
            for entry in requirement.get("covers") or []:
                stem = entry.split("#", 1)[0]
                if stem not in own:
                    problems.append(f"  {name} {requirement['id']}: covers {entry!r}, not one of its seeds")
    for stem in sorted(pages):
        if len(claimed.get(stem, [])) != 1:
            problems.append(f"  page {stem!r} claimed by {claimed.get(stem, [])} / expected exactly one catalogue")
    assert not problems, "Catalogue seeds and seed pages disagree:\n" + "\n".join(sorted(problems))


def test_every_seed_item_is_covered():
    missing = _uncovered(_seed_keys(_seeds()), set(_covers()))
    assert not missing, (
        f"{len(missing)} seed item(s) covered by no requirement (add them to a requirement's covers):\n"
        + "\n".join(f"  {item}" for item in missing)
    )


def test_every_covers_entry_names_a_seed_item():
    stale = _stale(_seed_keys(_seeds()), _covers())
    assert not stale, (
        f"{len(stale)} covers entr(y/ies) naming no item on the seed pages (stale or mistyped):\n"
        + "\n".join(f"  {entry}" for entry in stale)
    )


# ----------------------------------------------------------------------- the parser itself


@pytest.mark.parametrize(
    "stem, item",
    [
        ("ala-2.30-ceaseOrder", "request#alaCease.requestedDate"),
        ("ala-2.30-ceaseOrder", "request#buyer.cfh:resellerId"),
        ("ala-2.30-ceaseOrder", "response-403#fault.detail"),
        ("ala-2.30-ceaseOrder", "status#200"),  # "Response 200 fields" heading with no fields
        ("ala-2.30-unsolicitedCeaseRequest", "request#cfh:newOrderType=WLTO"),
        ("ala-2.30-unsolicitedCeaseRequest", "response-200#unsolicitedCeaseResponse"),
        ("fibrecafe-1.17-service-orders", "header#X-Request-ID"),
        ("fibrecafe-1.17-service-orders", "response-400#code=GATEWAY_FAULT"),
        ("fibrecafe-1.17-service-order-cancellations", "request#reasonCode=END_USER_NOT_MOVING"),
        ("fibrecafe-1.17-service-order-cancellations", "request#reasonCode=OTHER"),
        ("fibrecafe-1.17-service-order-cancellations", "response-201#reasonCode=CUSTOMER_CHANGED_MIND"),
        ("fibrecafe-1.17-service-order-cancellations", "response-201#status=COMPLETED"),
        ("fibrecafe-1.17-service-order-cancellations", "status#503"),  # heading with no fields
    ],
)
def test_parser_finds_known_seed_items(stem, item):
    items = _seeds()
    assert stem in items, f"Observed seed pages: {sorted(items)} / Expected a page {stem!r}"
    assert item in items[stem]


def test_parser_counts_on_real_pages():
    """Exact totals for two pages, so that a parser silently dropping items is noticed."""
    items = _seeds()
    cease = items["ala-2.30-ceaseOrder"]
    assert {i for i in cease if i.startswith("status#")} == {"status#200", "status#400", "status#401", "status#403"}
    assert len([i for i in cease if i.startswith("request#")]) == 14
    cancellations = items["fibrecafe-1.17-service-order-cancellations"]
    assert len([i for i in cancellations if i.startswith("request#reasonCode=")]) == 10
    assert len([i for i in cancellations if i.startswith("response-201#reasonCode=")]) == 10
    assert len([i for i in cancellations if i.startswith("response-201#status=")]) == 5
    assert {i for i in cancellations if i.startswith("status#")} == {
        f"status#{code}" for code in (201, 400, 401, 403, 422, 500, 503)
    }


SYNTHETIC_PAGE = """\
# Synthetic page

Endpoint: POST /synthetic Version: 0.1

## Header parameters:
- `X-Request-ID` (string, required) Unique identifier

## Request fields (application/json):
- `reasonCode` (string, required) Codes: - OTHER - BRAND_NEW_CODE Example: "OTHER"
- `kind` (string) Kinds Enum: "A", "B", "NEWVALUE"
- `brandNewField` (number) Added since the catalogue was written Example: 1

## Response 201 fields (application/json):
- `status` (string, required) Enum: "PENDING"

## Response 404 fields
"""


def test_parser_reads_a_synthetic_page(tmp_path):
    (tmp_path / "synthetic.md").write_text(SYNTHETIC_PAGE, encoding="utf-8")
    assert seed_items(tmp_path) == {
        "synthetic": {
            "header#X-Request-ID",
            "request#reasonCode",
            "request#reasonCode=OTHER",
            "request#reasonCode=BRAND_NEW_CODE",
            "request#kind",
            "request#kind=A",
            "request#kind=B",
            "request#kind=NEWVALUE",
            "request#brandNewField",
            "response-201#status",
            "response-201#status=PENDING",
            "status#201",
            "status#404",
        }
    }


def test_coverage_check_notices_a_new_field_and_enum_value(tmp_path):
    """A copy of the real pages with one field and one enum value added: exactly those two are uncovered."""
    real = _seeds()  # fails here if the seed pages are missing
    shutil.copytree(default_seeds_dir(), tmp_path / "seeds")
    page = tmp_path / "seeds" / "fibrecafe-1.17-service-order-cancellations.md"
    text = page.read_text(encoding="utf-8")
    assert '"COMPLETED"' in text and "## Response 201 fields" in text
    text = text.replace('"COMPLETED"', '"COMPLETED", "ON_HOLD"', 1)
    text = text.replace(
        "## Response 201 fields (application/json):\n",
        "## Response 201 fields (application/json):\n- `createdAt` (string) When the request was made\n",
        1,
    )
    page.write_text(text, encoding="utf-8")

    stem = "fibrecafe-1.17-service-order-cancellations"
    assert _uncovered(_seed_keys(seed_items(tmp_path / "seeds")), set(_covers())) == sorted(
        _uncovered(_seed_keys(real), set(_covers()))
        + [f"{stem}#response-201#createdAt", f"{stem}#response-201#status=ON_HOLD"]
    )


def test_stale_check_notices_a_mistyped_covers_entry():
    seed_keys = _seed_keys(_seeds())
    covers = {
        "ala-2.30-ceaseOrder#status#200": ["ALA-CEASE-001"],
        "ala-2.30-ceaseOrder#request#alaCease.requestDate": ["ALA-CEASE-001"],  # sic: requestedDate
    }
    assert _stale(seed_keys, covers) == ["ALA-CEASE-001: ala-2.30-ceaseOrder#request#alaCease.requestDate"]


@pytest.mark.parametrize(
    "page, complaint",
    [
        ("## Response fields\n- `x` (string)\n", "unrecognised section heading"),
        ("## Request fields:\n- x (string) no backticks\n", "unrecognised line"),
        ("## Request fields:\n* `x` (string)\n", "unrecognised line"),
        ("## Request fields:\nsome prose\n", "unrecognised line"),
        ("## Request fields:\n- `x` (string) Enum: A, B\n", "Enum"),
        ("## Request fields:\n- `x` (string) Enum: \"A\",\"B\"\n", "Enum"),
        ("## Request fields:\n- `x` (string)\n- `x` (number)\n", "duplicate item"),
        ("## Response 400 fields\n\n## Response 400 fields\n", "appears twice"),
        ("- `x` (string)\n", "before any section"),
    ],
)
def test_parser_rejects_what_it_does_not_recognise(tmp_path, page, complaint):
    path = tmp_path / "odd.md"
    path.write_text(page, encoding="utf-8")
    with pytest.raises(SeedPageError, match=complaint):
        parse_page(path)


def test_missing_seeds_dir_fails_rather_than_skips(tmp_path, monkeypatch):
    missing = tmp_path / "no-such-dir"
    monkeypatch.setenv(SEEDS_DIR_ENV, str(missing))
    assert default_seeds_dir() == missing.resolve()
    with pytest.raises(pytest.fail.Exception, match="seed pages directory not found"):
        _seeds()
