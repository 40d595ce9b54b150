"""A certificate an operator can defend (docs/operator.md): a standard run against a vendor target
(a sandbox started as `fibrecert sandbox` starts it) is a certification and verifies with 0; an
edited-and-re-signed report does not; `fibrecert audit` agrees with clean evidence, names the exchanges
a changed target answers differently, reports another server certificate; replay and audit record the
services they cease in the target's ledger."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from fibrecert import signing
from fibrecert.ledger import Ledger
from fibrecert.sandbox import Sandbox

from helpers import fibrecert, results

SEED = "20261202"


@pytest.fixture(scope="module")
def vendor(tmp_path_factory):
    """A sandbox as a vendor target, its signed standard run, and the signing key."""
    root = tmp_path_factory.mktemp("vendor")
    pki = root / "pki"
    sandbox = Sandbox(root / "state", pki_dir=pki, services=600).start()
    target = sandbox.write_target(root / "target.toml")
    key, pub = signing.keygen(root / "signer")
    report = root / "report"
    done = fibrecert("run", "--target", str(target), "--profile", "standard", "--report-dir", str(report),
                     "--sign", str(key), "--quiet", "--seed", SEED, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    yield {"root": root, "pki": pki, "sandbox": sandbox, "target": target, "report": report, "key": key, "pub": pub}
    sandbox.stop()


def _copy(report: Path, where: Path) -> Path:
    shutil.copytree(report, where)
    return where


def test_a_standard_run_of_a_vendor_target_is_a_certification_and_verifies_with_0(vendor):
    data = results(vendor["report"])
    assert data["scope"] == {"certification": True, "not_a_certification": [], "profile": "standard",
                             "selection": "all", "target_kind": "vendor target"}
    assert set(data["digests"]) == {"contracts", "catalogue"}
    fps = {fp for fps in data["server_certificates"].values() for fp in fps}
    assert len(fps) == 1 and re.fullmatch(r"SHA256:[0-9a-f]{64}", fps.pop())
    for api in ("ala", "fibrecafe"):  # every base URL the run used answered over TLS
        assert any(o.startswith("https://") and o.split("//")[1] in data["target"][api]["base_url"]
                   for o in data["server_certificates"])
    html = (vendor["report"] / "index.html").read_text(encoding="utf-8")
    assert 'data-certification="yes"' in html and "NOT A CERTIFICATION" not in html
    done = fibrecert("verify", str(vendor["report"]), "--key", str(vendor["pub"]), timeout=60)
    assert done.returncode == 0, done.stdout
    assert done.stdout.splitlines()[-1] == "CERTIFICATION"
    for fact in ("profile      standard", f"seed         {SEED}", "selection    all", "answered by  https://",
                 "digests      contracts sha256:", signing.fingerprint(signing.load_public_key(vendor["pub"]))):
        assert fact in done.stdout, fact


def test_an_edited_and_re_signed_report_fails_with_the_original_key_and_without_a_key(vendor, tmp_path):
    report = _copy(vendor["report"], tmp_path / "forged")
    data = json.loads((report / "results.json").read_text(encoding="utf-8"))
    data["requirements"][0]["outcome"] = "pass"
    data["verdict"] = "CONFORMANT"
    (report / "results.json").write_text(json.dumps(data), encoding="utf-8")
    forger_key, _ = signing.keygen(tmp_path / "forger")
    signing.sign_run(report, str(forger_key), signing.facts_from_results(data))
    with_key = fibrecert("verify", str(report), "--key", str(vendor["pub"]), timeout=60)
    assert with_key.returncode == 1 and "not by the key in" in with_key.stdout
    assert "CERTIFICATION" not in with_key.stdout.replace("NOT VERIFIED", "")
    without = fibrecert("verify", str(report), timeout=60)
    assert without.returncode == 1 and "no --key" in without.stdout and "standard" not in without.stdout


def test_a_smoke_run_of_the_embedded_sandbox_says_not_a_certification_everywhere(tmp_path):
    key, pub = signing.keygen(tmp_path / "k")
    report = tmp_path / "smoke"
    done = fibrecert("run", "--profile", "smoke", "--api", "fibrecafe", "--report-dir", str(report),
                     "--sign", str(key), "--quiet", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Scope: NOT A CERTIFICATION: smoke profile" in done.stdout and "reference sandbox" in done.stdout
    scope = results(report)["scope"]
    assert scope["certification"] is False and [r.split(":")[0] for r in scope["not_a_certification"]] == [
        "smoke profile", "reference sandbox"]
    html = (report / "index.html").read_text(encoding="utf-8")
    assert 'data-certification="no"' in html and '<div class="not-cert">NOT A CERTIFICATION</div>' in html
    payload = signing.verify_report(report, pub).payload
    assert payload["scope"] == scope
    verified = fibrecert("verify", str(report), "--key", str(pub), timeout=60)
    assert verified.returncode == 4 and verified.stdout.splitlines()[-1].startswith("NOT A CERTIFICATION: ")


def test_a_subset_is_not_a_certification(vendor, tmp_path):
    report = tmp_path / "subset"
    done = fibrecert("run", "--target", str(vendor["target"]), "--profile", "standard", "--only", "FC-SOC-*",
                     "--report-dir", str(report), "--quiet", timeout=300)
    assert done.returncode == 3, done.stdout + done.stderr
    scope = results(report)["scope"]
    assert not scope["certification"] and scope["not_a_certification"][0].startswith("subset: ")
    assert scope["selection"] != "all" and scope["target_kind"] == "vendor target"


def _audit(report: Path, target: Path, *extra: str):
    return fibrecert("audit", str(report), "--target", str(target), *extra, timeout=600)


def test_audit_of_clean_evidence_against_the_same_target_agrees(vendor):
    done = _audit(vendor["report"], vendor["target"], "--sample", "60", "--seed", "5")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "AGREES: the live target answered all 60 sampled exchanges as its evidence says"
    assert "(seed 5: --seed 5 picks the same sample)" in done.stdout
    picked = re.findall(r"^  agrees     (X\S+) ", done.stdout, re.M)
    assert len(picked) == 60
    again = _audit(vendor["report"], vendor["target"], "--sample", "60", "--seed", "5")
    assert re.findall(r"^  agrees     (X\S+) ", again.stdout, re.M) == picked  # reproducible
    # by default nothing that consumes test data was sampled: the ledger gained no audit entry
    assert not any(u.run.startswith("audit-") for u in Ledger.for_target(vendor["target"]).entries())


def test_audit_never_samples_an_exchange_whose_meaning_is_its_tokens_age(vendor):
    """The expiry test's exchanges (a short-lived token while fresh, then past its expires_in) cannot be
    re-sent as they were: a token fetched now is fresh. They are never in the sample (docs/operator.md)."""
    from fibrecert.audit import candidates

    data = results(vendor["report"])
    aged = {e["id"] for e in data["exchanges"] if e.get("case", {}).get("identity") == "tenant-s"}
    assert aged, "the run holds the expiry test's exchanges"
    pool, _, _ = candidates(data, allow_cease=True)
    assert pool and not aged & set(pool)


def _restart(vendor, defects=()):
    """Stop the vendor's sandbox and start it again on the same state and PKI (new ports: the target
    file is written again, its ledger stays)."""
    vendor["sandbox"].stop()
    vendor["sandbox"] = Sandbox(vendor["root"] / "state", pki_dir=vendor["pki"], services=600,
                                defects=defects).start()
    vendor["sandbox"].write_target(vendor["target"])


def test_audit_against_a_target_restarted_with_a_defect_names_the_exchanges(vendor, tmp_path):
    _restart(vendor, ("fc-error-code-outside-enum",))
    try:
        done = _audit(vendor["report"], vendor["target"], "--sample", "40", "--seed", "5")
    finally:
        _restart(vendor)
    assert done.returncode == 1, done.stdout + done.stderr
    named = re.findall(r"^  DISAGREES  (X\S+) POST /service-[a-z-]+ \(fibrecafe\):$", done.stdout, re.M)
    assert named, done.stdout
    assert "code: was 'MALFORMED_REQUEST', now 'BAD_THING'" in done.stdout
    assert re.search(r"fc_error: recorded pass, now violation \(Received HTTP 400 with code 'BAD_THING'\)", done.stdout)
    last = done.stdout.splitlines()[-1]
    assert last.startswith("DISAGREES: ") and all(x in last for x in named)
    assert "server certificate: SHA256:" in done.stdout  # the same PKI: the certificate agrees


def test_audit_against_another_sandbox_instance_reports_the_server_certificate(vendor, tmp_path):
    other = Sandbox(tmp_path / "state", pki_dir=tmp_path / "pki", services=600).start()
    try:
        target = other.write_target(tmp_path / "other.toml")
        done = _audit(vendor["report"], target, "--sample", "10", "--seed", "5")
    finally:
        other.stop()
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"^  DISAGREES  server certificate: https://\S+ presents SHA256:[0-9a-f]{64}, not a "
                     r"certificate that answered the run", done.stdout, re.M)
    assert done.stdout.splitlines()[-1].endswith("the server certificate")


def test_audit_bad_input_exits_2(vendor, tmp_path):
    assert _audit(tmp_path, vendor["target"]).returncode == 2
    done = _audit(vendor["report"], tmp_path / "absent.toml")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert _audit(vendor["report"], vendor["target"], "--sample", "0").returncode == 2


def test_audit_and_replay_record_the_services_they_cease_in_the_ledger(vendor, tmp_path):
    ledger = Ledger.for_target(vendor["target"])
    before = {u.service for u in ledger.entries()}
    done = _audit(vendor["report"], vendor["target"], "--sample", "150", "--seed", "2", "--allow-cease")
    assert done.returncode == 0, done.stdout + done.stderr
    audited = [u for u in ledger.entries() if u.run.startswith("audit-")]
    assert audited and not {u.service for u in audited} & before  # only unused services, each recorded
    # replay: a ceaseOrder of an active service, sent again with --allow-cease
    data = results(vendor["report"])
    cease = next(e["id"] for e in data["exchanges"] if e["operation"] == "POST /ceaseOrder" and e["answer"] == 200
                 and "service" in e.get("case", {}).get("bindings", {}))
    used = {u.service for u in ledger.entries()}
    replayed = fibrecert("replay", str(vendor["report"] / "results.json"), cease, "--target", str(vendor["target"]),
                         "--allow-cease", timeout=120)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    new = [u for u in ledger.entries() if u.run.startswith("replay-")]
    assert len(new) == 1 and new[0].service not in used
    assert f"Ceasing active service(s) {new[0].service} (in place of" in replayed.stdout
    # a later run sees them as used: it never tries to cease them again
    assert set(ledger.remaining([u.service for u in audited + new])) == set()
